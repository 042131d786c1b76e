import Testing
@testable import SwapMoEKernels

@Suite("Prefetch")
struct PrefetchTests {
    static func cpuinfo(vendor: String, flags: String) -> String {
        "processor\t: 0\nvendor_id\t: \(vendor)\ncpu family\t: 25\nflags\t\t: \(flags)\n\nprocessor\t: 1\nvendor_id\t: \(vendor)\n"
    }

    @Test("Default hints by CPU: Intel L1 + L2, AMD without AVX-512 L1 only, Zen 4 and others none")
    func defaults() {
        let intel = defaultPrefetchDistances(cpuinfo: Self.cpuinfo(vendor: "GenuineIntel", flags: "fpu avx2 avx512f avx512_vnni"))
        #expect(intel.l1 == 2048 && intel.l2 == 8192)
        let zen3 = defaultPrefetchDistances(cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: "fpu avx2 fma vaes"))
        #expect(zen3.l1 == 2048 && zen3.l2 == 0)
        let zen4 = defaultPrefetchDistances(cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: "fpu avx2 avx512f avx512bw"))
        #expect(!zen4.any)
        // A flag that only starts with the name is not it; an unknown vendor or no cpuinfo gets none.
        let prefix = defaultPrefetchDistances(cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: "avx512fx avx2"))
        #expect(prefix.l1 == 2048)
        #expect(!defaultPrefetchDistances(cpuinfo: Self.cpuinfo(vendor: "HygonGenuine", flags: "avx2")).any)
        #expect(!defaultPrefetchDistances(cpuinfo: "").any)
    }
}
