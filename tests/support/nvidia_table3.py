"""NVIDIA's Table 3 ("CUDA Toolkit and Corresponding Driver Versions", CUDA Toolkit Release
Notes, as /work/shared/reference/cuda.md section 1 records it with each row's source), the
first row of each CUDA X.Y: the facts the CUDA judgement tests hold mlenv's data to, written
down apart from mlenv's own ``cuda.json``."""

# (CUDA X.Y, Linux x86_64, Windows) of each X.Y's first Table 3 row (cuda.md §1). CUDA 11.0's
# first row is the 11.0.1 RC (450.36.06 / 451.22), the driver CUDA 11.0 shipped with (Table 2
# footnote), which mlenv takes as 11.0's minimum like uv's cu110.
TABLE_3: list[tuple[str, str, str | None]] = [
    ("13.3", "610.43.02", None),
    ("13.2", "595.45.04", None),
    ("13.1", "590.44.01", None),
    ("13.0", "580.65.06", None),
    ("12.9", "575.51.03", "576.02"),
    ("12.8", "570.26", "570.65"),
    ("12.6", "560.28.03", "560.76"),
    ("12.5", "555.42.02", "555.85"),
    ("12.4", "550.54.14", "551.61"),
    ("12.3", "545.23.06", "545.84"),
    ("12.2", "535.54.03", "536.25"),
    ("12.1", "530.30.02", "531.14"),
    ("12.0", "525.60.13", "527.41"),
    ("11.8", "520.61.05", "520.06"),
    ("11.7", "515.43.04", "516.01"),
    ("11.6", "510.39.01", "511.23"),
    ("11.5", "495.29.05", "496.04"),
    ("11.4", "470.42.01", "471.11"),
    ("11.3", "465.19.01", "465.89"),
    ("11.2", "460.27.03", "460.82"),
    ("11.1", "455.23", "456.38"),
    ("11.0", "450.36.06", "451.22"),
    ("10.2", "440.33", "441.22"),
    ("10.1", "418.39", "418.96"),
    ("10.0", "410.48", "411.31"),
]
