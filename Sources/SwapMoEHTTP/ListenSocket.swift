#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's listening TCP socket, made here rather than by libmicrohttpd (which is handed it through
/// `MHD_OPTION_LISTEN_SOCKET`): a bind failure then carries errno's text into a one-line `HTTPError`
/// (libmicrohttpd would only return NULL), and `getsockname` gives the port bound for port 0 without the
/// variadic `MHD_get_daemon_info`.
struct ListenSocket {
    let fd: Int32
    /// The bound port (the one asked for, or the kernel's choice for 0).
    let port: Int
    let isIPv6: Bool

    /// The address of `--host`: an IPv4 or IPv6 literal, or "localhost" (127.0.0.1; the loopback name resolves
    /// to that on every machine worth serving from, and no resolver is involved).
    enum Address {
        case v4(in_addr)
        case v6(in6_addr)

        init(parsing host: String) throws(HTTPError) {
            var text = host
            if text == "localhost" { text = "127.0.0.1" }
            if text.hasPrefix("["), text.hasSuffix("]"), text.count > 2 { text = String(text.dropFirst().dropLast()) }
            var v4 = in_addr()
            if inet_pton(AF_INET, text, &v4) == 1 {
                self = .v4(v4)
                return
            }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, text, &v6) == 1 {
                self = .v6(v6)
                return
            }
            throw .invalidHost(host)
        }
    }

    /// How an address is written in messages: "127.0.0.1:8080", "[::1]:8080".
    static func display(host: String, port: Int) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Creates, binds and listens. On failure nothing is left open.
    static func open(host: String, port: Int, backlog: Int32 = 128) throws(HTTPError) -> ListenSocket {
        guard (0...65535).contains(port) else { throw .invalidPort(port) }
        let address = try Address(parsing: host)
        let display = display(host: host, port: port)
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .cannotListen(address: display, errno: errno) }
        func fail(_ error: Int32) -> HTTPError {
            close(fd)
            return .cannotListen(address: display, errno: error)
        }
        // SO_REUSEADDR: a restarted server may bind while connections of the previous one linger in TIME_WAIT.
        // (On Linux it does not let two servers listen on one port: that is SO_REUSEPORT, not set.)
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw fail(errno)
        }
        var bound: Int32
        switch address {
        case .v4(let v4):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(port).bigEndian)
            sa.sin_addr = v4
            bound = bindAddress(fd, &sa)
        case .v6(let v6):
            // "::" serves IPv4 clients too (as ::ffff:a.b.c.d), whatever the system's bindv6only default.
            var off: Int32 = 0
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = in_port_t(UInt16(port).bigEndian)
            sa.sin6_addr = v6
            bound = bindAddress(fd, &sa)
        }
        guard bound == 0 else { throw fail(errno) }
        guard listen(fd, backlog) == 0 else { throw fail(errno) }

        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw fail(errno) }
        let boundPort: UInt16 = withUnsafePointer(to: &storage) { pointer in
            switch address {
            case .v4: pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            case .v6: pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        }
        return ListenSocket(fd: fd, port: Int(boundPort), isIPv6: family == AF_INET6)
    }

    /// After libmicrohttpd refused to start: closes the socket unless libmicrohttpd already did (it does on some
    /// of its failure paths and not on others). It counts as still ours if the descriptor is still a socket bound
    /// to our port.
    func closeIfStillOpen() {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return }
        let family = Int32(storage.ss_family)
        let boundPort: UInt16 = withUnsafePointer(to: &storage) { pointer in
            switch family {
            case AF_INET: pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            case AF_INET6: pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            default: 0
            }
        }
        if Int(boundPort) == port { close(fd) }
    }
}

/// bind(2) of `fd` to the address `sa` (a `sockaddr_in` or `sockaddr_in6`), its size from its type.
private func bindAddress<Address>(_ fd: Int32, _ sa: inout Address) -> Int32 {
    withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
    }
}
