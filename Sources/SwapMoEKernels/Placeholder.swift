// SwapMoEKernels
