// Standalone build of the Fieldbook Android library (an app can also include this directory as
// a module of its own build: `include(":fieldbook")`, `project(":fieldbook").projectDir = ...`).
pluginManagement {
    repositories { google(); mavenCentral(); gradlePluginPortal() }
}
dependencyResolutionManagement {
    repositories { google(); mavenCentral() }
}
rootProject.name = "fieldbook-android"
