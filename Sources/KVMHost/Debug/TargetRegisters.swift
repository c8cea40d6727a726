import CKVM

/// The registers the stub shows gdb, in gdb's numbering: the x86-64 core
/// (general registers, RIP, EFLAGS, selectors, the x87 registers gdb's
/// amd64 description requires), SSE, the segment bases, then the control
/// registers CR0, CR2, CR3, CR4 and EFER. The guest runs with no x87/SSE
/// state of its own (it is built without SSE), so those read as zero and
/// writes to them are ignored.
enum TargetRegisters {
    struct Register {
        let name: String
        let bytes: Int
        let type: String
        let feature: Feature
    }

    enum Feature: String, CaseIterable {
        case core = "org.gnu.gdb.i386.core"
        case sse = "org.gnu.gdb.i386.sse"
        case segments = "org.gnu.gdb.i386.segments"
        case control = "org.kvmhost.x86.control"
    }

    static let all: [Register] = {
        var registers: [Register] = []
        for name in ["rax", "rbx", "rcx", "rdx", "rsi", "rdi"] { registers.append(.init(name: name, bytes: 8, type: "int64", feature: .core)) }
        registers.append(.init(name: "rbp", bytes: 8, type: "data_ptr", feature: .core))
        registers.append(.init(name: "rsp", bytes: 8, type: "data_ptr", feature: .core))
        for index in 8...15 { registers.append(.init(name: "r\(index)", bytes: 8, type: "int64", feature: .core)) }
        registers.append(.init(name: "rip", bytes: 8, type: "code_ptr", feature: .core))
        registers.append(.init(name: "eflags", bytes: 4, type: "int32", feature: .core))
        for name in ["cs", "ss", "ds", "es", "fs", "gs"] { registers.append(.init(name: name, bytes: 4, type: "int32", feature: .core)) }
        for index in 0...7 { registers.append(.init(name: "st\(index)", bytes: 10, type: "i387_ext", feature: .core)) }
        for name in ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"] {
            registers.append(.init(name: name, bytes: 4, type: "int", feature: .core))
        }
        for index in 0...15 { registers.append(.init(name: "xmm\(index)", bytes: 16, type: "uint128", feature: .sse)) }
        registers.append(.init(name: "mxcsr", bytes: 4, type: "int", feature: .sse))
        for name in ["fs_base", "gs_base"] { registers.append(.init(name: name, bytes: 8, type: "int64", feature: .segments)) }
        for name in ["cr0", "cr2", "cr3", "cr4", "efer"] { registers.append(.init(name: name, bytes: 8, type: "int64", feature: .control)) }
        return registers
    }()

    static let targetXML: String = {
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
        xml += "<architecture>i386:x86-64</architecture>\n"
        for feature in Feature.allCases {
            xml += "<feature name=\"\(feature.rawValue)\">\n"
            for register in all where register.feature == feature {
                xml += "<reg name=\"\(register.name)\" bitsize=\"\(register.bytes * 8)\" type=\"\(register.type)\"/>\n"
            }
            xml += "</feature>\n"
        }
        return xml + "</target>\n"
    }()

    static func index(of name: String) -> Int { all.firstIndex { $0.name == name }! }

    /// The value of register `index`, as gdb's little-endian bytes.
    static func read(_ index: Int, regs: kvm_regs, sregs: kvm_sregs) -> [UInt8] {
        let register = all[index]
        let value: UInt64
        switch register.name {
        case "rax": value = regs.rax
        case "rbx": value = regs.rbx
        case "rcx": value = regs.rcx
        case "rdx": value = regs.rdx
        case "rsi": value = regs.rsi
        case "rdi": value = regs.rdi
        case "rbp": value = regs.rbp
        case "rsp": value = regs.rsp
        case "r8": value = regs.r8
        case "r9": value = regs.r9
        case "r10": value = regs.r10
        case "r11": value = regs.r11
        case "r12": value = regs.r12
        case "r13": value = regs.r13
        case "r14": value = regs.r14
        case "r15": value = regs.r15
        case "rip": value = regs.rip
        case "eflags": value = regs.rflags
        case "cs": value = UInt64(sregs.cs.selector)
        case "ss": value = UInt64(sregs.ss.selector)
        case "ds": value = UInt64(sregs.ds.selector)
        case "es": value = UInt64(sregs.es.selector)
        case "fs": value = UInt64(sregs.fs.selector)
        case "gs": value = UInt64(sregs.gs.selector)
        case "fctrl": value = 0x37F
        case "mxcsr": value = 0x1F80
        case "fs_base": value = sregs.fs.base
        case "gs_base": value = sregs.gs.base
        case "cr0": value = sregs.cr0
        case "cr2": value = sregs.cr2
        case "cr3": value = sregs.cr3
        case "cr4": value = sregs.cr4
        case "efer": value = sregs.efer
        default: value = 0
        }
        return (0..<register.bytes).map { $0 < 8 ? UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) : 0 }
    }

    /// Sets register `index` from gdb's bytes; false for one that cannot be set.
    static func write(_ index: Int, _ bytes: [UInt8], regs: inout kvm_regs, sregs: inout kvm_sregs) -> Bool {
        let register = all[index]
        guard bytes.count == register.bytes else { return false }
        var value: UInt64 = 0
        for (offset, byte) in bytes.prefix(8).enumerated() { value |= UInt64(byte) << (8 * UInt64(offset)) }
        switch register.name {
        case "rax": regs.rax = value
        case "rbx": regs.rbx = value
        case "rcx": regs.rcx = value
        case "rdx": regs.rdx = value
        case "rsi": regs.rsi = value
        case "rdi": regs.rdi = value
        case "rbp": regs.rbp = value
        case "rsp": regs.rsp = value
        case "r8": regs.r8 = value
        case "r9": regs.r9 = value
        case "r10": regs.r10 = value
        case "r11": regs.r11 = value
        case "r12": regs.r12 = value
        case "r13": regs.r13 = value
        case "r14": regs.r14 = value
        case "r15": regs.r15 = value
        case "rip": regs.rip = value
        case "eflags": regs.rflags = value | 0x2
        case "cr0": sregs.cr0 = value
        case "cr2": sregs.cr2 = value
        case "cr3": sregs.cr3 = value
        case "cr4": sregs.cr4 = value
        case "efer": sregs.efer = value
        default: return register.feature != .control && !["cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"].contains(register.name)
        }
        return true
    }
}
