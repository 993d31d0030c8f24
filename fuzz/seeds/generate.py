#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (issue #10: compressed Automerge data).

    python3 fuzz/seeds/generate.py

scripts/fuzz.sh passes fuzz/seeds/<target> to libFuzzer beside the working corpus, so every run
starts from these shapes: a compressed change chunk (type 2), a document chunk with a deflated
column, a change chunk with and without a deflated column, and a sync request pushing the
compressed chunk. The inflated sizes are scaled to the fuzzer's input sizes (1 MiB, not 1 GiB).
"""
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = bytes([0x85, 0x6F, 0x4A, 0x83])


def deflate_zeros(n):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as automerge writes it
    return c.compress(b"\0" * n) + c.flush()


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def chunk(chunk_type, data):
    return MAGIC + b"\0\0\0\0" + bytes([chunk_type]) + uleb(len(data)) + data


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    if n < 65536:
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + n.to_bytes(4, "big")


def cbor_text(s):
    b = s.encode()
    return cbor_head(3, len(b)) + b


def cbor_map(items):
    out = cbor_head(5, len(items))
    for k, v in items:
        out += cbor_text(k) + v
    return out


def main():
    compressed = chunk(2, deflate_zeros(1 << 20))
    column = deflate_zeros(1 << 20)
    # No actors, heads or change columns; one op column (id 1, deflated).
    document = chunk(0, b"\0\0\0" + uleb(1) + uleb((1 << 4) | 8) + uleb(len(column)) + column)
    # deps 0, actor [1], seq 1, start op 1, time 0, message "", no other actors, one op column.
    change = chunk(1, bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0x10, 2, 0x03, 0x00]))
    deflated_change = chunk(1, bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0x18, 2, 0x03, 0x00]))
    push = cbor_map([
        ("id", cbor_text("r-fuzz")), ("kind", cbor_text("visit")), ("case_id", cbor_text("case-a")),
        ("heads", cbor_head(4, 0)), ("changes", cbor_head(2, len(compressed)) + compressed),
    ])
    request = cbor_map([
        ("version", cbor_head(0, 1)), ("device", cbor_text("fuzz")), ("cursor", cbor_head(0, 0)),
        ("cursor_tag", cbor_head(0, 0)), ("push", cbor_head(4, 1) + push),
        ("check", cbor_head(4, 0)), ("response_budget", cbor_head(0, 65536)),
    ])
    seeds = {
        "chunk_check": {
            "compressed_change": compressed,
            "deflated_document": document,
            "change": change,
            "deflated_change": deflated_change,
            "change_then_compressed": change + compressed,
        },
        "load_document": {"compressed_change": compressed, "deflated_document": document},
        "server_sync": {"push_compressed_change": request},
    }
    for target, files in seeds.items():
        os.makedirs(os.path.join(HERE, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(HERE, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
