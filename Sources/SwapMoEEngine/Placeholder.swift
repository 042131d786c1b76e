// SwapMoEEngine
