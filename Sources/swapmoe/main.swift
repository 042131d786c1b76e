import SwapMoECLI

SwapMoECLI.main()
