// The Fieldbook Android library: the Rust core as .so files for three ABIs (built by
// build-rust.sh with cargo-ndk), the uniffi-generated Kotlin in src/main/kotlin/uniffi/ (kept in
// step with the library by CI: scripts/check-mobile.sh), and a little platform glue.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

android {
    namespace = "org.fieldbook.android"
    compileSdk = 35
    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }
    sourceSets["main"].jniLibs.srcDir("build/rustJniLibs")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    // uniffi's Kotlin calls the C ABI through JNA; the @aar variant carries its Android .so files.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.work:work-runtime-ktx:2.10.0")
}

// The Rust libraries, before every build that packages native code.
val buildRust by tasks.registering(Exec::class) {
    group = "build"
    description = "Builds libfieldbook_ffi.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk"
    workingDir = projectDir
    commandLine("./build-rust.sh", layout.buildDirectory.dir("rustJniLibs").get().asFile.path)
}
tasks.named("preBuild") { dependsOn(buildRust) }
