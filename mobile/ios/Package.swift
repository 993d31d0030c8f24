// swift-tools-version:5.9
// The Fieldbook iOS package: the Rust core as an XCFramework (device + simulator, built by
// build-xcframework.sh), the uniffi-generated Swift (kept in step with the library by CI:
// scripts/check-mobile.sh), and a little platform glue (Keychain key, background sync).
import PackageDescription

let package = Package(
    name: "Fieldbook",
    platforms: [.iOS(.v15)],
    products: [.library(name: "Fieldbook", targets: ["Fieldbook"])],
    targets: [
        .binaryTarget(name: "fieldbook_ffiFFI", path: "build/FieldbookFFI.xcframework"),
        .target(
            name: "Fieldbook",
            dependencies: ["fieldbook_ffiFFI"],
            path: "Sources/Fieldbook"
        ),
    ]
)
