"""CUDA: versions, NVIDIA's matrix, the tags that name a CUDA, the rules that judge a target,
the GPU package table and the CPU-fallback rule. Import from the submodules."""
