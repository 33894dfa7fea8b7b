"""Manifests as text: the smallest valid one, and the table of invalid ones with the exact
problems mlenv reports (an empty list where a test of its own checks them). The parser's tests
and the JSON schema's (which compare the schema's judgement with the parser's) read both."""

from __future__ import annotations

MINIMAL = '[environment]\nname = "demo"\npython = "3.11"\n'

LAYERS_EXPECTED = 'expected "auto" or an integer from 1 to 125'
LAYERS_HINT = '  hint: "auto" gives big packages their own layers; 1 keeps one layer'
BAD_MANIFESTS: list[tuple[str, str, list[str]]] = [
    (
        "toml-syntax",
        '[environment]\nname = "x"\npython = 3.11.2\n',
        [
            "m.toml:3:14: invalid TOML: Expected newline or end of document after a statement\n"
            "  hint: fix the TOML syntax at this position (strings need quotes, tables need "
            "[brackets])"
        ],
    ),
    (
        "missing-environment",
        "[pypi]\n",
        [
            "m.toml: [environment]: missing required key\n"
            '  hint: add an [environment] table with name = "..." and python = "3.11"'
        ],
    ),
    (
        "unknown-top-table",
        MINIMAL + "[bild]\n",
        ['m.toml: [bild]: unknown key\n  hint: did you mean "build"?'],
    ),
    (
        "unknown-key-did-you-mean",
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver_floor = '550.54.14'\n",
        [
            'm.toml: [cuda].driver_floor: unknown key\n  hint: did you mean "driver-floor"?',
            "m.toml: [cuda].driver-floor: missing required key\n"
            "  hint: set the oldest NVIDIA driver in the fleet; CUDA 12.4 needs "
            'driver-floor = "550.54.14" or newer',
        ],
    ),
    (
        "unknown-key-no-close-match",
        MINIMAL.replace("[environment]\n", "[environment]\ncolour = 'red'\n"),
        [
            "m.toml: [environment].colour: unknown key\n"
            "  hint: valid keys: name, python, platforms, glibc, prefix, interpreter"
        ],
    ),
    (
        "python-impossible",
        MINIMAL.replace('"3.11"', '"3.99"'),
        [
            "m.toml: [environment].python: '3.99' is not valid: expected a CPython minor "
            "version from 3.9 to 3.15"
        ],
    ),
    (
        "python-patch-release",
        MINIMAL.replace('"3.11"', '"3.11.7"'),
        [
            "m.toml: [environment].python: '3.11.7' is not valid: expected a minor version "
            'such as "3.11", not a patch release'
        ],
    ),
    (
        "python-wrong-type",
        MINIMAL.replace('"3.11"', "3.11"),
        [
            "m.toml: [environment].python: expected a string, got a number 3.11\n"
            '  hint: put the value in quotes as you meant it: python = "3.11"'
        ],
    ),
    (
        "cuda-not-a-version",
        MINIMAL + "[cuda]\nversion = 'twelve'\ndriver-floor = '550.54.14'\n",
        [
            "m.toml: [cuda].version: 'twelve' is not valid: expected a CUDA toolkit version "
            'like "12.4" (an update such as 12.4.1 is written "12.4")'
        ],
    ),
    (
        "driver-floor-garbage",
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = 'latest'\n",
        [
            "m.toml: [cuda].driver-floor: 'latest' is not valid: expected an NVIDIA driver "
            'version like "550.54.14"\n  hint: write it as nvidia-smi prints it, e.g. 550.54.14'
        ],
    ),
    (
        "driver-floor-below-toolkit",
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = '535.104.05'\n",
        [
            "m.toml: [cuda].driver-floor: driver 535.104.05 is below 550.54.14, the driver CUDA "
            "12.4 needs: the container runtime will not start an image for CUDA 12.4 "
            "(NVIDIA_REQUIRE_CUDA) on it\n"
            "  hint: raise driver-floor to 550.54.14, or target an older CUDA release "
            "(minor-version compatibility would load the libraries on an older driver of the "
            "same major, without PTX JIT, but not past that requirement)"
        ],
    ),
    (
        "cuda-unknown-release",
        MINIMAL + "[cuda]\nversion = '12.7'\ndriver-floor = '565.57.01'\n",
        [
            "m.toml: [cuda].version: CUDA 12.7 is not a known CUDA release\n"
            "  hint: known CUDA 12.x releases: 12.0, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.8, 12.9"
        ],
    ),
    (
        "cuda-driver-unconfirmed",
        MINIMAL + "[cuda]\nversion = '13.4'\ndriver-floor = '615'\n",
        [
            "m.toml: [cuda].version: the minimum driver for CUDA 13.4 is unconfirmed\n"
            "  hint: no NVIDIA Table 3 value is known for it; target a release whose driver is "
            "known"
        ],
    ),
    (
        "arch-garbage",
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = '550.54.14'\narchs = ['ampere']\n",
        [
            "m.toml: [cuda].archs[0]: 'ampere' is not valid: expected a GPU architecture like "
            '"sm_80"'
        ],
    ),
    (
        "unverified-not-a-name",
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = '550.54.14'\n"
        "unverified = ['xformers>=0.1']\n",
        [
            "m.toml: [cuda].unverified[0]: 'xformers>=0.1' is not valid: expected a "
            'distribution name like "xformers"'
        ],
    ),
    (
        "unverified-same-name-two-spellings",
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = '550.54.14'\n"
        "unverified = ['Flash_Attn', 'flash-attn']\n",
        [
            "m.toml: [cuda].unverified: 'flash-attn' is listed more than once (names compare "
            "PEP 503-normalised)\n  hint: list each package once"
        ],
    ),
    (
        "platform-typo",
        MINIMAL + 'platforms = ["linux64"]\n',
        [
            "m.toml: [environment].platforms[0]: 'linux64' is not valid: expected one of "
            'linux-64, linux-aarch64 (did you mean "linux-64"?)'
        ],
    ),
    (
        "platforms-empty",
        MINIMAL + "platforms = []\n",
        [
            "m.toml: [environment].platforms: must list at least one platform\n"
            '  hint: e.g. ["linux-64"]'
        ],
    ),
    (
        "platforms-duplicate",
        MINIMAL + 'platforms = ["linux-64", "linux-64"]\n',
        [
            "m.toml: [environment].platforms: 'linux-64' is listed more than once\n"
            "  hint: list each value once"
        ],
    ),
    (
        "glibc-too-old",
        MINIMAL + 'glibc = "2.12"\n',
        [
            "m.toml: [environment].glibc: '2.12' is not valid: expected a glibc version of at "
            'least "2.17", like "2.28"'
        ],
    ),
    (
        "prefix-relative",
        MINIMAL + 'prefix = "opt/env"\n',
        [
            "m.toml: [environment].prefix: 'opt/env' is not an absolute path\n"
            '  hint: write the absolute path of a directory of its own, such as "/opt/mlenv/NAME"'
        ],
    ),
    (
        "name-uppercase",
        MINIMAL.replace('"demo"', '"My Env"'),
        [
            "m.toml: [environment].name: 'My Env' is not valid: expected lower-case letters "
            "and digits, joined by '.', '_', '__' or dashes (at most 64)\n"
            '  hint: did you mean "my-env"?'
        ],
    ),
    (
        "outputs-empty",  # a build that writes nothing ended in an internal error
        MINIMAL + "[build]\noutputs = []\n",
        ['m.toml: [build].outputs: must list at least one output\n  hint: e.g. ["oci"]'],
    ),
    (
        "name-not-an-image-name",  # Docker refuses "a..b:latest": the build failed at its end
        MINIMAL.replace('"demo"', '"a..b"'),
        [
            "m.toml: [environment].name: 'a..b' is not valid: expected lower-case letters "
            "and digits, joined by '.', '_', '__' or dashes (at most 64)"
        ],
    ),
    (
        "requirement-invalid",
        MINIMAL + '[pypi]\ndependencies = ["numpy >= = 2"]\n',
        [
            "m.toml: [pypi].dependencies[0]: 'numpy >= = 2' is not valid: not a PEP 508 "
            "requirement (Expected semicolon (after name with no version specifier) or end)\n"
            '  hint: write a name and an optional version, e.g. "numpy>=1.26,<3"'
        ],
    ),
    (
        "requirement-direct-url",
        MINIMAL + '[pypi]\ndependencies = ["pkg @ https://example.org/pkg-1.0-py3-none-any.whl"]\n',
        [
            "m.toml: [pypi].dependencies[0]: 'pkg @ https://example.org/pkg-1.0-py3-none-any.whl'"
            " is not valid: direct URL requirements are not supported; put the wheel in "
            "[pypi].find-links\n"
            '  hint: put the wheel\'s directory in [pypi].find-links and write "pkg==1.0"'
        ],
    ),
    (
        "index-url-not-url",
        MINIMAL + '[pypi]\nindex-url = "pypi.org/simple"\n',
        [
            "m.toml: [pypi].index-url: 'pypi.org/simple' is not valid: expected an http://, "
            "https:// or file:// URL"
        ],
    ),
    (
        "dependencies-not-array",
        MINIMAL + '[pypi]\ndependencies = "numpy"\n',
        [
            "m.toml: [pypi].dependencies: expected an array of strings, got a string 'numpy'\n"
            '  hint: write an array, even for one value: dependencies = ["numpy"]'
        ],
    ),
    (
        "index-strategy-typo",
        MINIMAL + '[pypi]\nindex-strategy = "best"\n',
        [
            "m.toml: [pypi].index-strategy: 'best' is not valid: expected one of first-index, "
            'best-match (did you mean "best-match"?)'
        ],
    ),
    (
        "compression-unknown",
        MINIMAL + '[build]\ncompression = "xz"\n',
        ["m.toml: [build].compression: 'xz' is not valid: expected one of gzip, zstd, none"],
    ),
    *(
        (
            f"layers-{name}",
            MINIMAL + f"[build]\nlayers = {value}\n",
            [f"m.toml: [build].layers: {shown} is not valid: {LAYERS_EXPECTED}\n{LAYERS_HINT}"],
        )
        for name, value, shown in [
            ("zero", "0", "0"),
            ("too-many", "128", "128"),
            ("word", '"many"', "'many'"),
            ("negative", "-3", "-3"),
        ]
    ),
    *(
        (
            f"layers-{name}",
            MINIMAL + f"[build]\nlayers = {value}\n",
            [f"m.toml: [build].layers: {LAYERS_EXPECTED}, got {got}"],
        )
        for name, value, got in [
            ("boolean", "true", "a boolean True"),
            ("float", "2.5", "a number 2.5"),
            ("array", "[2]", "an array"),
        ]
    ),
    (
        "output-unknown",
        MINIMAL + '[build]\noutputs = ["docker"]\n',
        [
            "m.toml: [build].outputs[0]: 'docker' is not valid: expected one of oci, conda-pack; "
            '"docker" is another tool\'s name: mlenv\'s is "oci"'
        ],
    ),
    (
        "conda-deps-without-channel",
        MINIMAL + '[conda]\ndependencies = ["libgomp"]\n',
        [
            "m.toml: [conda].channels: conda dependencies are listed but no channel is\n"
            '  hint: add channels = ["conda-forge"] or a local channel URL'
        ],
    ),
    (
        "table-is-a-string",
        MINIMAL + 'build = "fast"\n',
        [],  # placed under [environment] by TOML, so it is an unknown environment key
    ),
    (
        "cuda-not-a-table",
        'cuda = "12.4"\n' + MINIMAL,
        ["m.toml: [cuda]: expected a table, got a string '12.4'"],
    ),
    (
        "cache-registry-with-tag",
        MINIMAL + '[cache]\nregistry = "oci://reg:5000/mlenv/cache:1"\n',
        [
            "m.toml: [cache].registry: 'oci://reg:5000/mlenv/cache:1' is not valid: expected "
            "oci://REGISTRY/REPOSITORY (no tag), e.g. oci://registry.internal:5000/mlenv/cache"
        ],
    ),
    (
        "cache-registry-without-scheme",
        MINIMAL + '[cache]\nregistry = "reg:5000/mlenv/cache"\nttl = 3\n',
        [
            "m.toml: [cache].ttl: unknown key\n  hint: valid keys: registry",
            "m.toml: [cache].registry: 'reg:5000/mlenv/cache' is not valid: expected "
            "oci://REGISTRY/REPOSITORY (no tag), e.g. oci://registry.internal:5000/mlenv/cache",
        ],
    ),
]
