"""A build's outputs against the records it wrote: a file against ``build.json``'s digests
and its lock, a platform's ``build.json`` against the multi-platform record one directory up.
Pure, like ``judge``; ``commands.verify`` reads the files and hands over their digests.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlenv.cuda.rules import Finding


def verify_output(
    name: str,
    actual_sha256: str,
    expected: Mapping[str, str],
    built_from: str,
    lock_sha256: str,
) -> list[Finding]:
    """A built file against the digests of the build record beside it (``expected``, by file
    name), and that record's lock (``built_from``) against the lock."""
    findings = []
    if name not in expected:
        findings.append(
            Finding.error(
                "output-unknown", "", f"one of {', '.join(sorted(expected)) or 'none'}", name,
                f"{name} is not an output recorded in build.json",
                "verify image.tar or the conda-pack archive of the same build",
            )
        )  # fmt: skip
    elif expected[name] != actual_sha256:
        findings.append(
            Finding.error(
                "output-digest-mismatch", "", f"sha256 {expected[name]}", f"sha256 {actual_sha256}",
                f"{name} has sha256 {actual_sha256}, build.json says {expected[name]}",
                "the file was changed or truncated after the build; rebuild or copy it again",
            )
        )  # fmt: skip
    if built_from != lock_sha256:
        findings.append(
            Finding.error(
                "output-lock-mismatch", "", f"lock sha256 {lock_sha256}",
                f"built from {built_from}",
                "the build was made from another lock than the one here",
                "run `mlenv build --offline` again for this lock",
            )
        )  # fmt: skip
    return findings


def verify_platform_record(
    platform: str, record_sha256: str, expected: str | None
) -> list[Finding]:
    """A platform's build.json against the sha256 the multi-platform build.json one directory
    up records for it (None: it records no such platform): the record is the one that build
    wrote, so a platform directory swapped in from another build is caught."""
    if expected == record_sha256:
        return []
    return [
        Finding.error(
            "output-platform-mismatch", "", f"build.json sha256 {expected}",
            f"sha256 {record_sha256}",
            f"{platform}/build.json is not the {platform} build the multi-platform build.json "
            "records",
            "the platform's directory comes from another build; rebuild or copy dist/ whole",
        )
    ]  # fmt: skip


def image_requirement_findings(
    values: list[str], driver: str, reported: str, host_said: str = ""
) -> list[Finding]:
    """A built image's NVIDIA_REQUIRE_* values (``requirement.runtime_requirements``) as
    libnvidia-container judges them on ``driver`` reporting CUDA ``reported``, for every GPU
    brand it names: the runtime, not the lock, decides whether the image starts, and a base's
    requirement kept beside the lock's is no lock rule (attack 131). ``host_said`` is the CUDA
    the host's nvidia-smi reports when it is another (a cuda-compat libcuda's,
    ``requirement.runtime_cuda``)."""
    from mlenv.cuda.requirement import RUNTIME_BRANDS, admitted_brands, shortened
    from mlenv.cuda.versions import CudaError

    on = f"driver {driver} (CUDA {reported})"
    compat = (
        f" (the CUDA {host_said} this host reports is a cuda-compat libcuda's, which the runtime "
        "does not judge the requirement by)"
        if host_said and host_said != reported
        else ""
    )
    try:
        admitted = admitted_brands(values, cuda=reported, driver=driver)
    except CudaError as error:
        return [
            Finding.error(
                "image-requirement-invalid", "", "requirements the runtime reads", on,
                f"the NVIDIA runtime cannot read the image's requirement: {error.message}",
                "rebuild on a base whose NVIDIA_REQUIRE_CUDA is well formed",
            )
        ]  # fmt: skip
    if len(admitted) == len(RUNTIME_BRANDS):
        return []
    said = f"the image's NVIDIA_REQUIRE_* ({shortened(values)!r})"
    hint = "upgrade the driver, or rebuild on a base for the lock's CUDA"
    if not admitted:
        message = f"{said} makes the NVIDIA runtime refuse the image on {on} for every GPU{compat}"
        return [Finding.error("image-requirement-refused", "", "a start", on, message, hint)]
    message = (
        f"{said} lets the NVIDIA runtime start the image on {on} only for "
        f"{', '.join(admitted)} GPUs (its forward-compatibility terms: data-center GPUs with "
        f"the base's cuda-compat){compat}"
    )
    return [Finding("warning", "image-requirement-brand", "", "a start", on, message, hint)]
