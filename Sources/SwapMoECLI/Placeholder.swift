public enum SwapMoECLI { public static func main() {} }
