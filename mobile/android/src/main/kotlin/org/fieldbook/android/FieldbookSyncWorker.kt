package org.fieldbook.android

import android.content.Context
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import java.util.concurrent.TimeUnit
import uniffi.fieldbook_ffi.FieldbookStore
import uniffi.fieldbook_ffi.SyncException

/**
 * Runs `sync()` when the device has a network: every 15 minutes, and at once after a visit is
 * saved ([syncSoon]). Offline or a failing server is retried with WorkManager's exponential
 * backoff; an expired or refused token is not (the app must sign the worker in again).
 *
 * The app tells the worker how to reach its open store once, at start-up:
 * `FieldbookSyncWorker.storeProvider = { myApp.store }`.
 */
class FieldbookSyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val store = storeProvider?.invoke() ?: return Result.retry()
        return try {
            var report = store.sync()
            // A bounded amount of work per call: continue while the server says there is more.
            var rounds = 0
            while (report.more && rounds++ < 10) report = store.sync()
            Result.success()
        } catch (e: SyncException.Offline) {
            Result.retry()
        } catch (e: SyncException.Server) {
            Result.retry()
        } catch (e: SyncException.Unauthorized) {
            Result.failure()
        } catch (e: SyncException) {
            Result.retry()
        }
    }

    companion object {
        @Volatile var storeProvider: (() -> FieldbookStore?)? = null
        private const val PERIODIC = "fieldbook-sync"
        private const val NOW = "fieldbook-sync-now"
        private val online = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

        /** Schedules the periodic sync (idempotent: call at every app start). */
        fun schedule(context: Context) {
            val request = PeriodicWorkRequestBuilder<FieldbookSyncWorker>(15, TimeUnit.MINUTES)
                .setConstraints(online)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context)
                .enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, request)
        }

        /** A sync as soon as there is a network (after saving a visit, say). */
        fun syncSoon(context: Context) {
            val request = OneTimeWorkRequestBuilder<FieldbookSyncWorker>()
                .setConstraints(online)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(NOW, ExistingWorkPolicy.REPLACE, request)
        }
    }
}
