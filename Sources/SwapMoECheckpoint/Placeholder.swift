// SwapMoECheckpoint
