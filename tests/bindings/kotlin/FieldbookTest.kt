// The mobile API from Kotlin on the JVM, as an Android app uses it: open with a key, record a
// visit, edit its text, submit with a validation error, sync against a real server on loopback
// with a token callback, observe the sync state, read the worklist; and a panic inside the
// library comes back as an exception while the store keeps working.
//
// Run by scripts/test-kotlin.sh (compiled with kotlinc, JNA from Debian); no JUnit: a plain
// runner that counts passes and exits non-zero on any failure.

import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import uniffi.fieldbook_ffi.*

val server: String = System.getenv("FIELDBOOK_TEST_SERVER_URL") ?: error("FIELDBOOK_TEST_SERVER_URL")
val key = ByteArray(32) { it.toByte() }
const val VISITED_MS = 1_774_519_200_000L // 2026-03-26 10:00 UTC

class Tokens(private val token: String) : TokenProvider {
    var calls = 0
    override fun accessToken(refresh: Boolean): String? {
        calls++
        return token
    }
}

class StatusLog : SyncStatusObserver {
    val states = mutableListOf<SyncStatus>()
    override fun onStatus(status: SyncStatus) {
        synchronized(states) { states.add(status) }
    }
}

class RecordLog : RecordObserver {
    val changed = mutableListOf<List<String>>()
    val delivered = mutableListOf<List<String>>()
    override fun onRecordsChanged(ids: List<String>) { synchronized(changed) { changed.add(ids) } }
    override fun onDeliveryChanged(ids: List<String>) { synchronized(delivered) { delivered.add(ids) } }
}

fun visit(observations: String = "The kitchen had food in.", childSeen: Boolean? = true) = VisitFields(
    kind = VisitKind.CHILD_PROTECTION,
    startedAtMs = VISITED_MS,
    location = "Family home",
    childSeen = childSeen,
    childNotSeenReason = "",
    seenAlone = true,
    bedroomSeen = true,
    childViews = listOf(ChildView(id = "", method = ViewsMethod.OWN_WORDS, text = "I like my new school")),
    observations = observations,
    analysis = "Things are improving.",
    risks = "None new.",
)

val dir: File = Files.createTempDirectory("fieldbook-kotlin").toFile()

fun open(name: String, token: String = "tok-amara", k: ByteArray = key, url: String? = server) =
    FieldbookStore.open(File(dir, "$name.db").path, k, "amara", name, url, if (url == null) null else Tokens(token))

/** Read, change, save: what a visit screen does. */
fun FieldbookStore.edit(id: String, change: (VisitFields) -> Unit): List<String> {
    val v = visit(id)
    change(v)
    return updateVisit(id, v)
}

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

inline fun <reified E : Throwable> expect(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

val tests = linkedMapOf<String, () -> Unit>(
    "record, edit and read back" to {
        val store = open("t1")
        val log = RecordLog()
        val handle = store.observeRecords(log)
        val id = store.createVisit("case-kt", visit())
        check(store.visit(id).observations == "The kitchen had food in.") { "read back" }
        val changed = store.edit(id) { it.observations = "The kitchen had fresh food in." }
        check(changed == listOf("observations")) { "changed $changed" }
        check(store.caseRecords("case-kt").map { it.id } == listOf(id)) { "listed" }
        check(store.delivery(id) is Delivery.OnDeviceOnly) { "not yet delivered" }
        check(store.history(id).size == 2) { "history" }
        check(log.changed.contains(listOf(id))) { "observer told" }
        handle.stop()
        store.close()
    },
    "submit names the missing items" to {
        val store = open("t2")
        val id = store.createVisit("case-kt", visit(childSeen = null))
        val e = expect<RecordException.Incomplete> { store.submit(id) }
        check(e.missing.any { it.field == "child_seen" }) { "missing ${e.missing}" }
        expect<RecordException.NotFound> { store.visit("no-such-record") }
        expect<RecordException.InvalidInput> { store.worklist("26/03/2026") }
        store.close()
    },
    "wrong key is a typed error" to {
        open("t3").close()
        expect<OpenException.WrongKey> { open("t3", k = ByteArray(32)) }
        expect<OpenException.InvalidKey> { open("t3", k = ByteArray(5)) }
    },
    "async sync against the server, with observers" to {
        val a = open("tablet-a")
        val b = open("tablet-b")
        val states = StatusLog()
        val handle = a.observeSync(states)
        val deliveries = RecordLog()
        val dHandle = a.observeRecords(deliveries)
        runBlocking {
            a.sync()
            val id = a.createVisit("case-kt", visit())
            val report = a.sync()
            check(report.acknowledged >= 1UL) { "acknowledged ${report.acknowledged}" }
            check(a.delivery(id) is Delivery.Received) { "received by the council" }
            b.sync()
            a.edit(id) { it.observations = "A: The kitchen had food in." }
            b.edit(id) { it.observations = "The kitchen had food in. B was here." }
            a.sync(); b.sync(); a.sync()
            val merged = a.visit(id).observations
            check(merged == "A: The kitchen had food in. B was here.") { "merged: $merged" }
            check(a.visit(id) == b.visit(id)) { "converged" }
            check(deliveries.delivered.any { it.contains(id) }) { "delivery observed" }
        }
        check(states.states.any { it.state is SyncState.Syncing }) { "saw syncing" }
        check(states.states.any { it.state is SyncState.Idle }) { "saw idle" }
        check(a.syncStatus().pendingRecords == 0UL) { "nothing pending" }
        val worklist = a.worklist("2026-03-30")
        check(worklist.isNotEmpty() && worklist.all { it.caseId in setOf("case-kt", "case-py") }) { "worklist $worklist" }
        handle.stop()
        dHandle.stop()
        a.close(); b.close()
    },
    "sync errors are typed" to {
        val bad = open("t5", token = "not-a-token")
        expect<SyncException.Unauthorized> { runBlocking { bad.sync() } }
        val local = open("t6", url = null)
        expect<SyncException.NotConfigured> { runBlocking { local.sync() } }
        val offline = open("t7", url = "http://127.0.0.1:9")
        expect<SyncException.Offline> { runBlocking { offline.sync() } }
    },
    "a panic is an exception and the store still opens" to {
        expect<RecordException.Internal> { debugPanicForTests() }
        val store = open("t8")
        val id = store.createVisit("case-kt", visit())
        expect<RecordException.Internal> { store.debugPanicInStore() }
        check(store.visit(id).observations == "The kitchen had food in.") { "still works" }
        store.close()
        check(open("t8").caseRecords("case-kt").size == 1) { "reopens" }
    },
)

fun main() {
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        try {
            test()
            passed++
            println("  ok   $name")
        } catch (e: Throwable) {
            failed++
            println("  FAIL $name: $e")
        }
    }
    println("kotlin: $passed passed, $failed failed")
    dir.deleteRecursively()
    if (failed > 0) kotlin.system.exitProcess(1)
}
