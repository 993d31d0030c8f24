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
    val kinds = mutableListOf<Pair<String, RecordKind>>()
    override fun onRecordsChanged(changes: List<RecordChange>) {
        synchronized(changed) { changed.add(changes.map { it.id }); kinds.addAll(changes.map { it.id to it.kind }) }
    }
    override fun onDeliveryChanged(changes: List<RecordChange>) {
        synchronized(changed) { delivered.add(changes.map { it.id }); kinds.addAll(changes.map { it.id to it.kind }) }
    }
}

fun assessment(factors: List<String> = listOf("1B", "21")) = AssessmentFields(
    kind = AssessmentKind.SINGLE,
    startDate = "2026-03-02",
    authorisationDate = null,
    childSeen = true,
    childNotSeenReason = "",
    childSeenDate = "2026-03-04",
    childViews = listOf(ChildView(id = "", method = ViewsMethod.PLAY, text = "Drew her family")),
    agenciesConsulted = listOf(AgencyContact(id = "", agency = AgencyKind.SCHOOL, organisation = "Hill Primary", date = "2026-03-05", summary = "Attendance good")),
    noAgencyReason = "",
    familyHistory = "Moved in 2024.",
    analysis = "Needs met.",
    factors = factors,
    outcome = AssessmentOutcome.CHILD_IN_NEED_PLAN,
    outcomeDetail = "",
    delayReason = "",
    closureDate = null,
    closureReason = null,
)

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

/** A byte-level TCP proxy to the server that, once armed, cuts the connection carrying the byte
 *  at the mark: a signal lost in the middle of an upload. */
class CuttingProxy(upstream: String) {
    private val host: String
    private val port: Int
    private val listener = java.net.ServerSocket(0, 16, java.net.InetAddress.getByName("127.0.0.1"))
    val url = "http://127.0.0.1:${listener.localPort}"
    private val lock = Object()
    private var left: Long? = null
    var cuts = 0
        private set

    init {
        val hostPort = upstream.substringAfter("//").split(":")
        host = hostPort[0]
        port = hostPort[1].toInt()
        Thread { accept() }.apply { isDaemon = true }.start()
    }

    fun cutAfter(n: Long) = synchronized(lock) { left = n }

    private fun accept() {
        while (true) {
            val client = try { listener.accept() } catch (e: java.io.IOException) { return }
            val server = java.net.Socket(host, port)
            Thread { pump(client, server, true) }.apply { isDaemon = true }.start()
            Thread { pump(server, client, false) }.apply { isDaemon = true }.start()
        }
    }

    private fun pump(src: java.net.Socket, dst: java.net.Socket, upload: Boolean) {
        val buf = ByteArray(65536)
        try {
            while (true) {
                var n = src.getInputStream().read(buf)
                if (n < 0) break
                var cut = false
                if (upload) synchronized(lock) {
                    val l = left
                    if (l != null && n >= l) {
                        n = l.toInt(); left = null; cuts++; cut = true
                    } else if (l != null) {
                        left = l - n
                    }
                }
                dst.getOutputStream().write(buf, 0, n)
                if (cut) break
            }
        } catch (e: java.io.IOException) {
        } finally {
            try { src.close() } catch (e: java.io.IOException) {}
            try { dst.close() } catch (e: java.io.IOException) {}
        }
    }
}

/** The case system allocating a case (the test server's `tok-cms`). */
fun putCase(case: String, local: String, worker: String, team: String) {
    val summary = """{"local_child_id": "$local", "name": "Child $local", "date_of_birth": null,
        "sex": null, "ethnicity": "", "disabilities": [], "address": "", "legal_status": null,
        "allocated_worker": "$worker", "team": "$team", "child_in_need": null,
        "child_protection": null, "looked_after": null, "private_fostering": null,
        "last_visit_date": null, "last_seen_date": null}"""
    val body = """{"summary": $summary, "allocated_worker": "$worker", "team": "$team"}"""
    val request = java.net.http.HttpRequest.newBuilder(java.net.URI.create("$server/api/v1/cases/$case"))
        .header("Authorization", "Bearer tok-cms")
        .header("Content-Type", "application/json")
        .PUT(java.net.http.HttpRequest.BodyPublishers.ofString(body))
        .build()
    val status = java.net.http.HttpClient.newHttpClient()
        .send(request, java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode()
    check(status == 204) { "case PUT answered $status" }
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
    "the server's signed receipt, read and verified" to {
        val store = open("tablet-receipt")
        val id = store.createVisit("case-kt", visit())
        check(store.receipt(id) == null) { "no receipt before the push" }
        expect<ReceiptException.NoReceipt> { store.verifyReceipt(id) }
        expect<ReceiptException.NotFound> { store.receipt("no-such-record") }
        runBlocking { store.sync() }
        val receipt = store.receipt(id) ?: throw AssertionError("no receipt after the push")
        check(receipt.recordId == id && receipt.device == "tablet-receipt") { "receipt $receipt" }
        check(receipt.heads.size == 1 && receipt.heads[0].length == 64) { "heads ${receipt.heads}" }
        check(receipt.serverKey.length == 64 && receipt.signature.length == 128) { "hex fields" }
        check(receipt.receivedAtMs > 0L) { "received at ${receipt.receivedAt}" }
        check(store.verifyReceipt(id) == receipt) { "verifies" }
        store.close()
    },
    "every kind typed and observed" to {
        val store = open("k1")
        val log = RecordLog()
        val handle = store.observeRecords(log)
        val aid = store.createAssessment("case-kt", assessment())
        val a = store.assessment(aid)
        check(a.factors == listOf("1B", "21") && a.agenciesConsulted[0].id.isNotEmpty()) { "assessment $a" }
        check(store.updateAssessment(aid, a.copy(delayReason = "Waited for the school.")) == listOf("delay_reason")) { "updated" }
        val bad = expect<RecordException.InvalidInput> { store.updateAssessment(aid, assessment(listOf("99Z"))) }
        check(bad.field == "factors") { "field ${bad.field}" }
        expect<RecordException.WrongKind> { store.visit(aid) }
        val note = CaseNoteFields(category = CaseNoteCategory.PHONE_CALL, occurredAtMs = VISITED_MS, text = "Mother called.")
        val nid = store.createCaseNote("case-kt", note)
        check(store.caseNote(nid) == note) { "note read back" }
        store.submit(nid)
        val info = store.record(nid)
        check(info.status == RecordStatus.SUBMITTED) { "submitted" }
        check((info.content as RecordContent.CaseNote).fields.text == "Mother called.") { "content ${info.content}" }
        check(log.kinds.contains(aid to RecordKind.ASSESSMENT) && log.kinds.contains(nid to RecordKind.CASE_NOTE)) { "kinds ${log.kinds}" }
        check(codeList(CodeList.ASSESSMENT_FACTOR).size == 44) { "factor list" }
        runBlocking { store.sync() }
        val summary = store.caseSummary("case-kt", "2026-03-20")
        check(summary.localChildId == "LCKT" && summary.childProtection?.startDate == "2026-03-02") { "summary $summary" }
        check(summary.due.isNotEmpty() && summary.due.all { it.caseId == "case-kt" }) { "due ${summary.due}" }
        check(log.delivered.any { it.contains(aid) }) { "delivered ${log.delivered}" }
        check(log.kinds.any { it.second == RecordKind.CASE_SUMMARY }) { "summary received ${log.kinds}" }
        handle.stop()
        store.close()
    },
    "a conflict resolved on one tablet clears on the other" to {
        val a = open("tablet-ka")
        val b = open("tablet-kb")
        runBlocking {
            a.sync()
            val id = a.createVisit("case-kt", visit())
            a.sync(); b.sync()
            a.edit(id) { it.location = "Garden" }
            b.edit(id) { it.location = "School" }
            a.sync(); b.sync(); a.sync()
            val location = a.conflicts(id).first { it.path == "location" }
            val values = location.values.map { (it.value as FieldValue.Text).value }.sorted()
            check(values == listOf("Garden", "School")) { "values $values" }
            check(location.values.all { it.worker == "amara" && it.atMs != null }) { "who and when" }
            val notShown = location.values.first { !it.shown }
            a.resolveConflict(id, "location", Resolution.Choose(notShown.id))
            check(a.conflicts(id).isEmpty()) { "resolved" }
            a.sync(); b.sync()
            check(b.conflicts(id).isEmpty()) { "resolved on the other tablet" }
            check(b.visit(id).location == (notShown.value as FieldValue.Text).value) { "chosen value" }
        }
        a.close(); b.close()
    },
    "a photo uploaded over an interrupted connection is fetched on a second tablet" to {
        val proxy = CuttingProxy(server)
        val a = open("photo-ka", url = proxy.url)
        val b = open("photo-kb")
        val photo = ByteArray(1_500_000).also { java.util.Random(7).nextBytes(it) }
        runBlocking {
            a.sync()
            val id = a.createVisit("case-kt", visit())
            val info = a.attach(id, photo, "image/jpeg", "the garden", VISITED_MS)
            check(info.size == photo.size.toULong() && info.delivery is AttachmentDelivery.OnDeviceOnly) { "attached $info" }
            // The record goes first; its photo is cut off at about 90%, then resumed.
            proxy.cutAfter(1_350_000)
            a.sync()
            check(proxy.cuts == 1) { "cuts ${proxy.cuts}" }
            check(a.attachmentDelivery(id, info.hash) is AttachmentDelivery.Received) { "received" }
            // The other tablet gets the reference with its sync, the bytes when it opens it.
            b.sync()
            val seen = b.attachments(id).single()
            check(seen.hash == info.hash && seen.delivery is AttachmentDelivery.NotOnDevice) { "seen $seen" }
            check(b.openAttachment(id, info.hash).contentEquals(photo)) { "the same bytes" }
            check(b.attachmentDelivery(id, info.hash) is AttachmentDelivery.Received) { "kept" }
            expect<AttachmentException.NotFound> { runBlocking { b.openAttachment(id, "0".repeat(64)) } }
        }
        a.close(); b.close()
    },
    "a purged case takes its attachments with it" to {
        putCase("case-purge-kt", "LCPURGEKT", "amara", "north")
        val a = open("purge-ka")
        val photo = ByteArray(300_000).also { java.util.Random(11).nextBytes(it) }
        runBlocking {
            a.sync()
            val id = a.createVisit("case-purge-kt", visit())
            val info = a.attach(id, photo, "image/jpeg", "the bedroom", VISITED_MS)
            a.sync()
            check(a.attachmentDelivery(id, info.hash) is AttachmentDelivery.Received) { "received" }
            // Re-allocated to another team: the next sync purges the case, its records and the
            // photo's bytes from this tablet.
            putCase("case-purge-kt", "LCPURGEKT", "ben", "south")
            a.sync()
            check(a.caseRecords("case-purge-kt").isEmpty()) { "records purged" }
            expect<AttachmentException.NotFound> { a.attachments(id) }
            expect<AttachmentException.NotFound> { runBlocking { a.openAttachment(id, info.hash) } }
        }
        a.close()
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
