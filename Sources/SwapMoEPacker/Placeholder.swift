// SwapMoEPacker
