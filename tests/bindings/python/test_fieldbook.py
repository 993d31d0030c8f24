"""The mobile API driven from Python through uniffi's generated bindings: a second, independent
client of the library's C ABI, covering what an app does (open, record, edit, submit with a
validation error, sync against a real server with a token callback, observe, worklist), and that
a panic inside the library comes back as an error.

Run by scripts/test-bindings.sh, which builds the library, generates the bindings into
FIELDBOOK_PY_BINDINGS and starts a server at FIELDBOOK_TEST_SERVER_URL with the case
`case-py` allocated to `amara`."""

import asyncio
import os
import sys
import time

import pytest

sys.path.insert(0, os.environ["FIELDBOOK_PY_BINDINGS"])
import fieldbook_ffi as fb  # noqa: E402

SERVER = os.environ["FIELDBOOK_TEST_SERVER_URL"]
KEY = bytes(range(32))
VISITED_MS = 1_774_519_200_000  # 2026-03-26 10:00 UTC


class Tokens(fb.TokenProvider):
    def __init__(self, token):
        self.token = token
        self.calls = 0

    def access_token(self, refresh):
        self.calls += 1
        return self.token


class StatusLog(fb.SyncStatusObserver):
    def __init__(self):
        self.states = []

    def on_status(self, status):
        self.states.append(status)


class RecordLog(fb.RecordObserver):
    def __init__(self):
        self.changed = []
        self.delivered = []
        self.kinds = []

    def on_records_changed(self, changes):
        self.changed.append([c.id for c in changes])
        self.kinds.extend((c.id, c.kind) for c in changes)

    def on_delivery_changed(self, changes):
        self.delivered.append([c.id for c in changes])
        self.kinds.extend((c.id, c.kind) for c in changes)


def visit(**overrides):
    fields = dict(
        kind=fb.VisitKind.CHILD_PROTECTION,
        started_at_ms=VISITED_MS,
        location="Family home",
        child_seen=True,
        child_not_seen_reason="",
        seen_alone=True,
        bedroom_seen=True,
        child_views=[fb.ChildView(id="", method=fb.ViewsMethod.OWN_WORDS, text="I like my new school")],
        observations="The kitchen had food in.",
        analysis="Things are improving.",
        risks="None new.",
    )
    fields.update(overrides)
    return fb.VisitFields(**fields)


def edit(store, vid, **changes):
    """Read, change, save: what a visit screen does (child views keep their ids)."""
    v = store.visit(vid)
    for name, value in changes.items():
        setattr(v, name, value)
    return store.update_visit(vid, v)


def open_store(tmp_path, name="tablet", token="tok-amara", key=KEY):
    return fb.FieldbookStore.open(
        str(tmp_path / f"{name}.db"), key, "amara", name, SERVER, Tokens(token)
    )


def test_record_edit_and_read_back(tmp_path):
    store = open_store(tmp_path)
    records = RecordLog()
    handle = store.observe_records(records)
    vid = store.create_visit("case-py", visit())
    assert store.visit(vid).observations == "The kitchen had food in."
    changed = edit(store, vid, observations="The kitchen had fresh food in.")
    assert changed == ["observations"]
    assert store.visit(vid).observations == "The kitchen had fresh food in."
    assert [r.id for r in store.case_records("case-py")] == [vid]
    assert store.delivery(vid).is_on_device_only()
    assert len(store.history(vid)) == 2
    assert [vid] in records.changed
    handle.stop()
    edit(store, vid, observations="After closing the handle.")
    assert records.changed.count([vid]) == 2, "no callback after stop"


def test_submit_names_the_missing_items(tmp_path):
    store = open_store(tmp_path)
    vid = store.create_visit("case-py", visit(child_seen=None, child_views=[]))
    with pytest.raises(fb.RecordError.Incomplete) as err:
        store.submit(vid)
    fields = {m.field for m in err.value.missing}
    assert "child_seen" in fields, fields
    assert all(m.check.startswith("C") for m in err.value.missing)
    with pytest.raises(fb.RecordError.NotFound):
        store.visit("no-such-record")
    with pytest.raises(fb.RecordError.InvalidInput):
        store.worklist("26/03/2026")


def test_wrong_key_and_bad_key_are_typed_errors(tmp_path):
    store = open_store(tmp_path)
    store.create_visit("case-py", visit())
    del store
    with pytest.raises(fb.OpenError.WrongKey):
        open_store(tmp_path, key=bytes(32))
    with pytest.raises(fb.OpenError.InvalidKey):
        open_store(tmp_path, key=b"short")
    assert len(open_store(tmp_path).case_records("case-py")) == 1


def test_async_sync_against_the_server(tmp_path):
    a = open_store(tmp_path, "tablet-a")
    b = open_store(tmp_path, "tablet-b")
    states = StatusLog()
    a_handle = a.observe_sync(states)
    deliveries = RecordLog()
    d_handle = a.observe_records(deliveries)

    async def scenario():
        report = await a.sync()
        assert "case-py" in report.allocated_cases or report.pulled >= 0
        vid = a.create_visit("case-py", visit())
        report = await a.sync()
        assert report.acknowledged >= 1
        assert a.delivery(vid).is_received()
        await b.sync()
        assert b.visit(vid).observations == "The kitchen had food in."
        # Both edit offline, then sync: both texts are kept.
        edit(a, vid, observations="A: The kitchen had food in.")
        edit(b, vid, observations="The kitchen had food in. B was here.")
        await a.sync()
        await b.sync()
        await a.sync()
        return vid

    vid = asyncio.run(scenario())
    assert a.visit(vid).observations == "A: The kitchen had food in. B was here."
    assert a.visit(vid) == b.visit(vid)
    kinds = [type(s.state).__name__.upper() for s in states.states]
    assert any("SYNCING" in k for k in kinds) and any("IDLE" in k for k in kinds), kinds
    assert a.sync_status().pending_records == 0
    assert [vid] in deliveries.delivered
    worklist = a.worklist("2026-03-30")
    assert {e.case_id for e in worklist} <= {"case-py", "case-kt"}
    assert any(e.due for e in worklist)
    a_handle.stop()
    d_handle.stop()


def test_the_servers_signed_receipt_is_read_and_verified(tmp_path):
    store = open_store(tmp_path, "tablet-receipt")
    vid = store.create_visit("case-py", visit())
    assert store.receipt(vid) is None
    with pytest.raises(fb.ReceiptError.NoReceipt):
        store.verify_receipt(vid)
    with pytest.raises(fb.ReceiptError.NotFound):
        store.receipt("no-such-record")
    asyncio.run(store.sync())
    receipt = store.receipt(vid)
    assert receipt.record_id == vid and receipt.device == "tablet-receipt"
    assert len(receipt.heads) == 1 and len(receipt.heads[0]) == 64
    assert len(receipt.server_key) == 64 and len(receipt.signature) == 128
    assert receipt.received_at_ms > 0
    assert store.verify_receipt(vid) == receipt


def test_sync_errors_are_typed(tmp_path):
    bad = open_store(tmp_path, "tablet-x", token="not-a-token")
    with pytest.raises(fb.SyncError.Unauthorized):
        asyncio.run(bad.sync())
    offline = fb.FieldbookStore.open(
        str(tmp_path / "off.db"), KEY, "amara", "off", "http://127.0.0.1:9", Tokens("tok-amara")
    )
    with pytest.raises(fb.SyncError.Offline):
        asyncio.run(offline.sync())
    local = fb.FieldbookStore.open(str(tmp_path / "local.db"), KEY, "amara", "l", None, None)
    with pytest.raises(fb.SyncError.NotConfigured):
        asyncio.run(local.sync())


def test_a_panic_is_an_error_and_the_store_still_opens(tmp_path):
    with pytest.raises(fb.RecordError.Internal):
        fb.debug_panic_for_tests()
    store = open_store(tmp_path)
    vid = store.create_visit("case-py", visit())
    with pytest.raises(fb.RecordError.Internal):
        store.debug_panic_in_store()
    # The same store object keeps working, and the file opens again.
    assert store.visit(vid).observations == "The kitchen had food in."
    del store
    assert len(open_store(tmp_path).case_records("case-py")) == 1


def assessment(**overrides):
    fields = dict(
        kind=fb.AssessmentKind.SINGLE,
        start_date="2026-03-02",
        authorisation_date=None,
        child_seen=True,
        child_not_seen_reason="",
        child_seen_date="2026-03-04",
        child_views=[fb.ChildView(id="", method=fb.ViewsMethod.PLAY, text="Drew her family")],
        agencies_consulted=[fb.AgencyContact(id="", agency=fb.AgencyKind.SCHOOL,
                                             organisation="Hill Primary", date="2026-03-05",
                                             summary="Attendance good")],
        no_agency_reason="",
        family_history="Moved in 2024.",
        analysis="Needs met.",
        factors=["1B", "21"],
        outcome=fb.AssessmentOutcome.CHILD_IN_NEED_PLAN,
        outcome_detail="",
        delay_reason="",
        closure_date=None,
        closure_reason=None,
    )
    fields.update(overrides)
    return fb.AssessmentFields(**fields)


def test_every_kind_typed_and_observed(tmp_path):
    store = open_store(tmp_path)
    log = RecordLog()
    handle = store.observe_records(log)
    aid = store.create_assessment("case-py", assessment())
    a = store.assessment(aid)
    assert a.factors == ["1B", "21"] and a.agencies_consulted[0].id
    a.delay_reason = "Waited for the school."
    assert store.update_assessment(aid, a) == ["delay_reason"]
    with pytest.raises(fb.RecordError.InvalidInput) as err:
        store.update_assessment(aid, assessment(factors=["99Z"]))
    assert err.value.field == "factors"
    with pytest.raises(fb.RecordError.WrongKind):
        store.visit(aid)
    note = fb.CaseNoteFields(category=fb.CaseNoteCategory.PHONE_CALL,
                             occurred_at_ms=VISITED_MS, text="Mother called.")
    nid = store.create_case_note("case-py", note)
    assert store.case_note(nid) == note
    store.submit(nid)
    info = store.record(nid)
    assert info.kind == fb.RecordKind.CASE_NOTE and info.status == fb.RecordStatus.SUBMITTED
    assert info.content.is_case_note() and info.content.fields.text == "Mother called."
    assert (aid, fb.RecordKind.ASSESSMENT) in log.kinds
    assert (nid, fb.RecordKind.CASE_NOTE) in log.kinds
    assert len(fb.code_list(fb.CodeList.ASSESSMENT_FACTOR)) == 44

    async def pull():
        return await store.sync()

    asyncio.run(pull())
    summary = store.case_summary("case-py", "2026-03-20")
    assert summary.local_child_id == "LCPY"
    assert summary.child_protection.start_date == "2026-03-02"
    assert summary.due and all(d.case_id == "case-py" for d in summary.due)
    # The sync delivered both records and told the observer their kinds.
    assert any(aid in ids for ids in log.delivered)
    assert any(k == fb.RecordKind.CASE_SUMMARY for _, k in log.kinds)
    handle.stop()


def test_a_conflict_resolved_on_one_tablet_clears_on_the_other(tmp_path):
    a = open_store(tmp_path, "tablet-ca")
    b = open_store(tmp_path, "tablet-cb")

    async def scenario():
        await a.sync()
        vid = a.create_visit("case-py", visit())
        await a.sync()
        await b.sync()
        edit(a, vid, location="Garden")
        edit(b, vid, location="School")
        await a.sync()
        await b.sync()
        await a.sync()
        conflicts = a.conflicts(vid)
        location = next(c for c in conflicts if c.path == "location")
        assert sorted(v.value.value for v in location.values) == ["Garden", "School"]
        assert all(v.worker == "amara" and v.at_ms for v in location.values)
        assert {v.device for v in location.values} == {"tablet-ca", "tablet-cb"}
        a.resolve_conflict(vid, "location", fb.Resolution.WRITE(fb.FieldValue.TEXT("Grandmother's flat")))
        assert a.conflicts(vid) == []
        await a.sync()
        await b.sync()
        return vid

    vid = asyncio.run(scenario())
    assert b.conflicts(vid) == []
    assert b.visit(vid).location == "Grandmother's flat"
    assert a.history(vid)[-1].fields == ["location"]


class CuttingProxy:
    """A byte-level TCP proxy to the server that, once armed, cuts the connection carrying the
    byte at the mark: a signal lost in the middle of an upload."""

    def __init__(self, upstream):
        import socket
        import threading
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.left = None
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n):
        with self.lock:
            self.left = n

    def _accept(self):
        import socket
        import threading
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, upload):
        import socket
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upload:
                    with self.lock:
                        cut = self.left is not None and len(data) >= self.left
                        if cut:
                            data, self.left = data[: self.left], None
                            self.cuts += 1
                        elif self.left is not None:
                            self.left -= len(data)
                    if cut:
                        dst.sendall(data)
                        for s in (src, dst):
                            s.shutdown(socket.SHUT_RDWR)
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def test_attachment_upload_over_an_interrupted_connection_and_fetch_on_a_second_device(tmp_path):
    proxy = CuttingProxy(SERVER)
    a = fb.FieldbookStore.open(
        str(tmp_path / "photo-a.db"), KEY, "amara", "photo-a", proxy.url, Tokens("tok-amara")
    )
    b = open_store(tmp_path, "photo-b")
    photo = os.urandom(1_500_000)

    async def scenario():
        await a.sync()
        vid = a.create_visit("case-py", visit())
        info = a.attach(vid, photo, "image/jpeg", "the garden", VISITED_MS)
        assert info.size == len(photo) and info.delivery.is_on_device_only()
        # The record goes first; its photo is cut off at about 90%, then resumed.
        proxy.cut_after(1_350_000)
        await a.sync()
        assert proxy.cuts == 1
        assert a.attachment_delivery(vid, info.hash).is_received()
        # The other tablet gets the reference with the sync, the bytes when it opens it.
        await b.sync()
        [seen] = b.attachments(vid)
        assert seen.hash == info.hash and seen.delivery.is_not_on_device()
        log = RecordLog()
        handle = b.observe_records(log)
        opened = await b.open_attachment(vid, info.hash)
        assert opened == photo
        assert log.delivered == [[vid]], log.delivered
        handle.stop()
        assert b.attachment_delivery(vid, info.hash).is_received()
        with pytest.raises(fb.AttachmentError.NotFound):
            await b.open_attachment(vid, "0" * 64)

    asyncio.run(scenario())


def put_case(case, local, worker, team):
    """The case system allocating a case (its token is the test server's `tok-cms`)."""
    import json
    import urllib.request

    summary = {"local_child_id": local, "name": "Child " + local, "date_of_birth": None,
               "sex": None, "ethnicity": "", "disabilities": [], "address": "",
               "legal_status": None, "allocated_worker": worker, "team": team,
               "child_in_need": None, "child_protection": None, "looked_after": None,
               "private_fostering": None, "last_visit_date": None, "last_seen_date": None}
    body = json.dumps({"summary": summary, "allocated_worker": worker, "team": team}).encode()
    req = urllib.request.Request(f"{SERVER}/api/v1/cases/{case}", data=body, method="PUT",
                                 headers={"Authorization": "Bearer tok-cms",
                                          "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 204


def test_a_purged_case_takes_its_attachments_with_it(tmp_path):
    put_case("case-purge-py", "LCPURGE", "amara", "north")
    a = open_store(tmp_path, "purge-a")
    photo = os.urandom(300_000)

    async def scenario():
        await a.sync()
        vid = a.create_visit("case-purge-py", visit())
        await a.sync()
        # The record is at the council already; its photo's arrival is a delivery change too.
        log = RecordLog()
        handle = a.observe_records(log)
        info = a.attach(vid, photo, "image/jpeg", "the bedroom", VISITED_MS)
        await a.sync()
        assert a.attachment_delivery(vid, info.hash).is_received()
        assert [vid] in log.delivered, log.delivered
        handle.stop()
        assert await a.open_attachment(vid, info.hash) == photo
        # Re-allocated to another team: the next sync purges the case, its records and the
        # photo's bytes from this tablet.
        put_case("case-purge-py", "LCPURGE", "ben", "south")
        await a.sync()
        assert a.case_records("case-purge-py") == []
        with pytest.raises(fb.AttachmentError.NotFound):
            a.attachments(vid)
        with pytest.raises(fb.AttachmentError.NotFound):
            await a.open_attachment(vid, info.hash)

    asyncio.run(scenario())
