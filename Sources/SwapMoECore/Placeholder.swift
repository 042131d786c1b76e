// SwapMoECore
