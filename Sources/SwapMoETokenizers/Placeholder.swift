// SwapMoETokenizers
