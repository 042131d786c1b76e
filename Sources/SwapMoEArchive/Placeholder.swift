// SwapMoEArchive
