import Foundation

/// The guest kernel this package builds (guest.elf, from Sources/Guest).
public enum GuestImage {
    /// Where the built guest.elf lies.
    public static var kernelURL: URL {
        guard let url = Bundle.module.url(forResource: "guest", withExtension: "elf") else {
            fatalError("guest.elf is missing from the GuestImage bundle: the BuildGuest plugin did not run")
        }
        return url
    }

    /// The bytes of guest.elf.
    public static func kernel() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: kernelURL))
    }
}
