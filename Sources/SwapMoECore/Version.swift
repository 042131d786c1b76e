/// The swapmoe version written into archives and printed by `swapmoe --version`.
public enum SwapMoEVersion {
    public static let string = "0.1.0"
}
