// SwapMoEModels
