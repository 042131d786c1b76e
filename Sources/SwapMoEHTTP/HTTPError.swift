#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwapMoECore

/// Why an `HTTPServer` could not start. Each message is one line naming the cause and what to do, in the
/// command line's terms (`--host`, `--port`), since `swapmoe serve` prints it as it is.
public enum HTTPError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The host is neither an IPv4 nor an IPv6 literal nor "localhost".
    case invalidHost(String)
    /// The port is outside 0...65535.
    case invalidPort(Int)
    /// A numeric option outside its range (`name` is the `HTTPServerOptions` property).
    case invalidOption(name: String, value: Int, range: String)
    /// socket, bind, listen or getsockname failed on `address` ("127.0.0.1:8080", "[::1]:8080") with `errno`.
    case cannotListen(address: String, errno: Int32)
    /// libmicrohttpd refused to start (it says no more than that: out of threads or memory, most likely).
    case cannotStart(address: String)

    public var description: String {
        switch self {
        case .invalidHost(let host):
            return "--host '\(host.escapingControlCharacters)' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or localhost)"
        case .invalidPort(let port):
            return "--port \(port) is out of range (0...65535; 0 picks a free port)"
        case .invalidOption(let name, let value, let range):
            return "HTTP server option \(name) is \(value), out of range (\(range))"
        case .cannotListen(let address, let errno):
            return "cannot listen on \(address): \(String(cString: strerror(errno)))\(Self.remedy(errno))"
        case .cannotStart(let address):
            return "cannot start the HTTP server on \(address): libmicrohttpd refused (out of threads or memory?); try again, or with a lower connection limit"
        }
    }

    /// What to do about a failed bind or listen, by errno.
    private static func remedy(_ errno: Int32) -> String {
        switch errno {
        case EADDRINUSE: return "; choose another --port (or stop the program that uses it)"
        case EACCES, EPERM: return "; ports below 1024 need privileges: choose a --port of 1024 or above"
        case EADDRNOTAVAIL: return "; the address is not one of this machine's: choose another --host (127.0.0.1, 0.0.0.0, ::1)"
        case EAFNOSUPPORT: return "; this machine has no IPv6: choose an IPv4 --host (127.0.0.1 or 0.0.0.0)"
        default: return "; check --host and --port"
        }
    }
}
