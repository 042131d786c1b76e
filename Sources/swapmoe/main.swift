import SwapMoECLI
SwapMoECLI.main()
