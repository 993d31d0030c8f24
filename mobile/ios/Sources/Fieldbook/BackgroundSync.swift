import BackgroundTasks
import Foundation

/// Runs `sync()` in the background with BGTaskScheduler. Register once at launch (before the
/// app finishes launching) and list the identifier under `BGTaskSchedulerPermittedIdentifiers`
/// in Info.plist:
///
///     BackgroundSync.register(store: { appState.store })
///     BackgroundSync.schedule()
public enum BackgroundSync {
    public static let identifier = "org.fieldbook.sync"

    public static func register(store: @escaping () -> FieldbookStore?) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let task = task as? BGAppRefreshTask else { return }
            schedule()  // the next one, whatever happens to this one
            let work = Task {
                guard let store = store() else { task.setTaskCompleted(success: false); return }
                do {
                    var report = try await store.sync()
                    var rounds = 0
                    while report.more && rounds < 10 {
                        report = try await store.sync()
                        rounds += 1
                    }
                    task.setTaskCompleted(success: true)
                } catch {
                    task.setTaskCompleted(success: false)
                }
            }
            task.expirationHandler = { work.cancel() }
        }
    }

    /// Asks iOS for a background refresh (it decides when, with a network).
    public static func schedule(earliest: TimeInterval = 15 * 60) {
        let request = BGAppRefreshTaskRequest(identifier: identifier)
        request.earliestBeginDate = Date(timeIntervalSinceNow: earliest)
        try? BGTaskScheduler.shared.submit(request)
    }
}
