#!/usr/bin/env python3
"""Checks the Parquet files written by write_cases against what it expected.

Usage: check.py OUTDIR   (OUTDIR/manifest.jsonl from write_cases)

Every file is read three ways, each independent of the writer:
  - pyarrow.parquet: schema and logical types, every value, key/value
    metadata, and the row-group statistics pyarrow reports, recomputed here
    from the expected rows of each row group;
  - duckdb read_parquet(): every value and the SQL types, plus
    parquet_metadata() for the codec and statistics as DuckDB sees them;
  - a small Thrift compact decoder in this file: the raw footer (fields that
    pyarrow hides: codec id, exactness flags, nan_count, deprecated min/max,
    column orders, encodings and encoding stats) and a walk over every page,
    with the page bodies decompressed (python lz4), the definition levels
    and dictionary indices decoded from the RLE/bit-packed hybrid and the
    values decoded (PLAIN, or looked up in the dictionary page), compared
    with the expected rows; the dictionary of each string chunk, and where it
    falls back to PLAIN, are predicted from the rows and the writer's limits.
Hive datasets are read with duckdb hive_partitioning = true and with
pyarrow.dataset partitioning="hive".

Prints one line per failed check and ends with "N passed, M failed".
"""
import json
import math
import os
import struct
import sys
import traceback

import duckdb
import lz4.block
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

PASSED = 0
FAILED = 0


def check(ok, what):
    global PASSED, FAILED
    if ok:
        PASSED += 1
    else:
        FAILED += 1
        print("FAIL:", what)
    return ok


# ---- Thrift compact protocol reader ----

class Compact:
    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def byte(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self):
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def zigzag(self):
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ctype):
        if ctype in (1, 2):  # bool inside a list
            return self.byte() == 1
        if ctype == 3:
            return struct.unpack("b", bytes([self.byte()]))[0]
        if ctype in (4, 5, 6):
            return self.zigzag()
        if ctype == 7:
            v = struct.unpack_from("<d", self.data, self.pos)[0]
            self.pos += 8
            return v
        if ctype == 8:
            n = self.varint()
            v = bytes(self.data[self.pos:self.pos + n])
            self.pos += n
            return v
        if ctype in (9, 10):
            head = self.byte()
            size, etype = head >> 4, head & 15
            if size == 15:
                size = self.varint()
            return [self.value(etype) for _ in range(size)]
        if ctype == 12:
            return self.struct()
        raise ValueError("unsupported compact type %d" % ctype)

    def struct(self):
        fields = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            ctype, delta = head & 15, head >> 4
            fid = last + delta if delta else self.zigzag()
            last = fid
            if ctype == 1:
                fields[fid] = True
            elif ctype == 2:
                fields[fid] = False
            else:
                fields[fid] = self.value(ctype)


def read_footer(path):
    data = open(path, "rb").read()
    check(data[:4] == b"PAR1" and data[-4:] == b"PAR1", "%s: PAR1 magic at both ends" % path)
    n = struct.unpack_from("<I", data, len(data) - 8)[0]
    meta = Compact(data, len(data) - 8 - n).struct()
    return data, meta


def rle_hybrid_decode(buf, count, width):
    out = []
    c = Compact(buf)
    while len(out) < count:
        header = c.varint()
        if header & 1:
            groups = header >> 1
            nbytes = groups * width
            bits = int.from_bytes(buf[c.pos:c.pos + nbytes], "little")
            c.pos += nbytes
            for i in range(groups * 8):
                out.append((bits >> (i * width)) & ((1 << width) - 1))
        else:
            nbytes = (width + 7) // 8
            value = int.from_bytes(buf[c.pos:c.pos + nbytes], "little")
            c.pos += nbytes
            out.extend([value] * (header >> 1))
    check(c.pos == len(buf), "RLE/bit-packed hybrid: the runs fill their bytes exactly")
    check(all(v < (1 << width) for v in out), "RLE/bit-packed hybrid: values fit the bit width")
    return out[:count]


def plain_decode(buf, count, ctype):
    """@count PLAIN values of @ctype at the start of @buf, and the bytes used."""
    values, pos = [], 0
    for i in range(count):
        if ctype == "STRING":
            n = struct.unpack_from("<I", buf, pos)[0]
            values.append(bytes(buf[pos + 4:pos + 4 + n]).decode("utf-8"))
            pos += 4 + n
        elif ctype == "BOOLEAN":
            values.append(bool(buf[i // 8] >> (i % 8) & 1))
            pos = (i + 8) // 8
        else:
            values.append(struct.unpack_from("<d" if ctype == "DOUBLE" else "<q", buf, pos)[0])
            pos += 8
    return values, pos


def expected_dictionary(case, ctype, values):
    """The dictionary the writer builds for a chunk of @values (entries in
    order of first appearance), and the index of the value that would take
    it past dict_max_entries or dict_max_bytes, where the chunk falls back
    to PLAIN (None if it does not). (None, None) when not dictionary-encoded."""
    if ctype != "STRING" or not case["dictionary"]:
        return None, None
    entries, seen, size = [], set(), 0
    for i, v in enumerate(values):
        if v is None or v in seen:
            continue
        n = len(utf8(v))
        if len(entries) + 1 > case["dict_max_entries"] or size + 4 + n > case["dict_max_bytes"]:
            return entries, i
        seen.add(v)
        entries.append(v)
        size += 4 + n
    return entries, None


# ---- expected values ----

def load_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def same_value(want, got, ctype):
    if want is None or got is None:
        return want is None and got is None
    if ctype == "DOUBLE":
        if math.isnan(want):
            return isinstance(got, float) and math.isnan(got)
        return want == got and math.copysign(1, want) == math.copysign(1, got)
    return want == got and type(want) == type(got)


def utf8(s):
    return s.encode("utf-8")


def max_can_be_bounded(hi, limit):
    """Whether a string of at most @limit bytes >= @hi exists: @hi fits, or its
    longest code-point prefix within @limit has a code point below U+10FFFF."""
    if len(utf8(hi)) <= limit:
        return True
    prefix = ""
    for ch in hi:
        if len(utf8(prefix + ch)) > limit:
            break
        prefix += ch
    return any(ord(ch) < 0x10FFFF for ch in prefix)


def plain_bound(value, ctype):
    if ctype == "STRING":
        return utf8(value)
    if ctype == "DOUBLE":
        return struct.pack("<d", value)
    if ctype == "BOOLEAN":
        return bytes([1 if value else 0])
    return struct.pack("<q", value)


def expected_stats(rows, col, ctype):
    values = [r[col] for r in rows]
    present = [v for v in values if v is not None]
    nulls = len(values) - len(present)
    nans = sum(1 for v in present if ctype == "DOUBLE" and math.isnan(v))
    if ctype == "DOUBLE":
        present = [v for v in present if not math.isnan(v)]
    if not present:
        return nulls, nans, None, None
    if ctype == "STRING":
        return nulls, nans, min(present, key=utf8), max(present, key=utf8)
    lo, hi = min(present), max(present)
    if ctype == "DOUBLE":  # the spec's zero rule
        lo = -0.0 if lo == 0 else lo
        hi = 0.0 if hi == 0 else hi
    return nulls, nans, lo, hi


# ---- per-file checks ----

ARROW_TYPES = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP_MILLIS": pa.timestamp("ms", tz="UTC"),
}
PHYSICAL = {"STRING": 6, "INT64": 2, "DOUBLE": 5, "BOOLEAN": 0, "TIMESTAMP_MILLIS": 2}
DUCK_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP_MILLIS": "TIMESTAMP WITH TIME ZONE",
}


def arrow_values(table, name, ctype):
    col = table.column(name)
    if ctype == "TIMESTAMP_MILLIS":
        col = pc.cast(col, pa.int64())
    return col.to_pylist()


def compare_columns(label, columns, expected, got_by_col):
    for ci, col in enumerate(columns):
        got = got_by_col[ci]
        if not check(len(got) == len(expected), "%s %s: %d rows, expected %d" %
                     (label, col["name"], len(got), len(expected))):
            continue
        bad = [i for i, row in enumerate(expected) if not same_value(row[ci], got[i], col["type"])]
        if bad:
            i = bad[0]
            check(False, "%s %s: %d wrong values, first at row %d: %r != expected %r" %
                  (label, col["name"], len(bad), i, str(got[i])[:80], str(expected[i][ci])[:80]))
        else:
            check(True, "")


def check_arrow(case, path, expected):
    columns = case["columns"]
    meta = pq.read_metadata(path)
    table = pq.read_table(path)
    check(meta.num_rows == len(expected), "%s: num_rows %d" % (path, meta.num_rows))
    check(meta.created_by.startswith("eddy version"), "%s: created_by" % path)
    kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
    want_kv = {"writer": "eddy", **case["metadata"]}
    check(kv == want_kv, "%s: key/value metadata %r != %r" % (path, kv, want_kv))
    for i, col in enumerate(columns):
        field = table.schema.field(i)
        check(field.name == col["name"] and field.type == ARROW_TYPES[col["type"]] and field.nullable,
              "%s: arrow field %s" % (path, field))
        pcol = meta.schema.column(i)
        want_logical = {"STRING": "String", "TIMESTAMP_MILLIS":
                        "Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds, "
                        "is_from_converted_type=false, force_set_converted_type=false)"}
        check(str(pcol.logical_type) == want_logical.get(col["type"], "None") and
              pcol.max_definition_level == 1 and pcol.max_repetition_level == 0,
              "%s: parquet column %s logical type %s" % (path, col["name"], pcol.logical_type))
    compare_columns(path + " [pyarrow]", columns, expected,
                    [arrow_values(table, c["name"], c["type"]) for c in columns])
    return meta


def check_arrow_stats(case, path, meta, expected, raw_meta):
    start = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        rows = expected[start:start + rg.num_rows]
        start += rg.num_rows
        check(rg.num_rows <= case["row_group_rows"], "%s rg %d: %d rows over the limit" %
              (path, g, rg.num_rows))
        for ci, col in enumerate(case["columns"]):
            ctype = col["type"]
            chunk = rg.column(ci)
            st = chunk.statistics
            nulls, nans, lo, hi = expected_stats(rows, ci, ctype)
            label = "%s rg %d col %s" % (path, g, col["name"])
            check(chunk.num_values == len(rows), label + ": num_values")
            entries, _ = expected_dictionary(case, ctype, [r[ci] for r in rows])
            check(sorted(chunk.encodings) == sorted(["PLAIN", "RLE"] + ["RLE_DICTIONARY"] *
                                                     bool(entries)) and
                  chunk.has_dictionary_page == bool(entries),
                  label + ": pyarrow encodings %r, dictionary page %r" %
                  (chunk.encodings, chunk.has_dictionary_page))
            check(st is not None and st.has_null_count and st.null_count == nulls,
                  label + ": null_count %s, expected %d" % (st and st.null_count, nulls))
            raw = raw_meta[4][g][1][ci][3][12]  # RowGroup.columns[ci].meta_data.statistics
            exact = raw.get(8, True) and raw.get(7, True)
            if lo is None:
                check(not st.has_min_max, label + ": no min/max for an all-null/NaN chunk")
                continue
            if ctype == "STRING" and not max_can_be_bounded(hi, case["stats_max_bytes"]):
                check(not st.has_min_max and 5 not in raw and 6 not in raw,
                      label + ": no bounds when no max of stats_max_bytes exists")
                continue
            if exact:
                want_lo, want_hi = lo, hi
                got_lo, got_hi = st.min, st.max
                if ctype == "TIMESTAMP_MILLIS":
                    got_lo, got_hi = st.min_raw, st.max_raw
                ok = same_value(want_lo, got_lo, ctype) and same_value(want_hi, got_hi, ctype)
                check(st.has_min_max and ok, label + ": min/max %r..%r, expected %r..%r" %
                      (got_lo, got_hi, want_lo, want_hi))
            else:
                limit = case["stats_max_bytes"]
                blo, bhi = utf8(st.min), utf8(st.max)
                check(blo <= utf8(lo) and bhi > utf8(hi) and len(blo) <= limit and
                      len(bhi) <= limit, label + ": truncated bounds %r..%r for %r..%r" %
                      (st.min, st.max, lo[:20], hi[:20]))
    check(start == len(expected), "%s: row groups hold every row" % path)
    check(meta.num_row_groups >= case["min_row_groups"], "%s: %d row groups, expected >= %d" %
          (path, meta.num_row_groups, case["min_row_groups"]))


def check_raw(case, path, data, meta, expected):
    columns = case["columns"]
    codec = {"LZ4_RAW": 7, "UNCOMPRESSED": 0}[case["codec"]]
    check(meta[1] == 1, path + ": version 1")
    schema = meta[2]
    check(schema[0].get(5) == len(columns) and 3 not in schema[0], path + ": root element")
    for ci, col in enumerate(columns):
        el = schema[ci + 1]
        check(el[1] == PHYSICAL[col["type"]] and el[3] == 1 and el[4] == utf8(col["name"]),
              path + ": schema element %s" % col["name"])
        if col["type"] == "STRING":
            check(el.get(6) == 0 and el.get(10) == {1: {}}, path + ": String logical type")
        elif col["type"] == "TIMESTAMP_MILLIS":
            check(el.get(6) == 9 and el.get(10) == {8: {1: True, 2: {1: {}}}},
                  path + ": Timestamp(UTC, MILLIS) logical type")
        else:
            check(6 not in el and 10 not in el, path + ": no logical type")
    check(meta.get(7) == [{1: {}}] * len(columns), path + ": TYPE_ORDER column orders")
    kv = {e[1].decode(): e[2].decode() for e in meta.get(5, [])}
    check(meta[5][0] == {1: b"writer", 2: b"eddy"} and kv == {"writer": "eddy", **case["metadata"]},
          path + ": key_value_metadata, writer first")
    pos = 4
    first_row = 0
    for g, rg in enumerate(meta[4]):
        check(rg.get(7) == g and rg.get(5) == pos, path + ": row group %d ordinal/file_offset" % g)
        rows = expected[first_row:first_row + rg[3]]
        first_row += rg[3]
        total_c = total_u = 0
        for ci, cc in enumerate(rg[1]):
            md = cc[3]
            ctype = columns[ci]["type"]
            label = "%s rg %d col %s" % (path, g, columns[ci]["name"])
            values = [r[ci] for r in rows]
            entries, fallback = expected_dictionary(case, ctype, values)
            has_dict = bool(entries)
            check(cc[2] == 0 and md[1] == PHYSICAL[ctype] and
                  md[2] == ([0, 3, 8] if has_dict else [0, 3]) and
                  md[3] == [utf8(columns[ci]["name"])] and md[4] == codec and
                  md.get(11) == (pos if has_dict else None),
                  label + ": column metadata (encodings %r, dictionary page at %r)" %
                  (md[2], md.get(11)))
            pages, uncompressed = walk_pages(case, label, data, pos, md, codec, ctype, values,
                                             entries if has_dict else None, fallback)
            want_stats = []
            if has_dict:
                want_stats.append({1: 2, 2: 0, 3: 1})
            if pages[8]:
                want_stats.append({1: 0, 2: 8, 3: pages[8]})
            if pages[0]:
                want_stats.append({1: 0, 2: 0, 3: pages[0]})
            check(md[13] == want_stats, label + ": encoding_stats %r, expected %r" %
                  (md[13], want_stats))
            check(md[6] == uncompressed, label + ": total_uncompressed_size")
            stats = md[12]
            has_bounds = 5 in stats
            is_string = ctype == "STRING"
            check((1 in stats) == (has_bounds and not is_string) and
                  (2 in stats) == (1 in stats) and (6 in stats) == has_bounds,
                  label + ": deprecated min/max only for non-strings with bounds")
            if 1 in stats:
                check(stats[1] == stats[5] and stats[2] == stats[6], label + ": min == min_value")
            check((9 in stats) == (ctype == "DOUBLE"), label + ": nan_count")
            pos += md[7]
            total_c += md[7]
            total_u += md[6]
        check(rg[6] == total_c and rg[2] == total_u, path + ": row group %d sizes" % g)
    check(len(data) == pos + struct.unpack_from("<I", data, len(data) - 8)[0] + 8,
          path + ": footer follows the last column chunk")


def read_page(data, pos, codec):
    """(PageHeader, uncompressed body, header + uncompressed size, next position)."""
    c = Compact(data, pos)
    header = c.struct()
    body = data[c.pos:c.pos + header[3]]
    if codec == 7:
        body = lz4.block.decompress(body, uncompressed_size=header[2])
    return header, body, (c.pos - pos) + header[2], c.pos + header[3]


def walk_pages(case, label, data, pos, md, codec, ctype, expected, entries, fallback):
    """Decodes every page of the chunk at @pos and compares its values with
    @expected; @entries is the expected dictionary (None: no dictionary
    page). Returns ({encoding: data page count}, total uncompressed size)."""
    end = pos + md[7]
    pages = {0: 0, 8: 0}
    uncompressed = 0
    dictionary = None
    if entries is not None:
        header, body, size, pos = read_page(data, pos, codec)
        uncompressed += size
        check(header[1] == 2 and header.get(7) == {1: len(entries), 2: 0},
              label + ": dictionary page header %r, %d entries expected" %
              (header.get(7), len(entries)))
        check(len(body) == header[2], label + ": dictionary page uncompressed size")
        dictionary, used = plain_decode(body, len(entries), "STRING")
        check(dictionary == entries and used == len(body),
              label + ": dictionary entries are the distinct values in order of first appearance")
    check(pos == md[9], label + ": data_page_offset is the first data page")
    row = nulls = 0
    starts = []
    while pos < end:
        header, body, size, pos = read_page(data, pos, codec)
        uncompressed += size
        dp = header.get(5, {})
        n, encoding = dp.get(1, 0), dp.get(2)
        starts.append(row)
        if not check(header[1] == 0 and encoding in pages and dp[3] == 3 and dp[4] == 3 and
                     n <= case["page_rows"], label + ": page header %r" %
                     {k: v for k, v in header.items() if k != 5}):
            return pages, uncompressed
        check(len(body) == header[2], label + ": page uncompressed size")
        pages[encoding] += 1
        want = expected[row:row + n]
        check_page_encoding(label, encoding, row, want, expected, entries, fallback, ctype, case)
        nlevels = struct.unpack_from("<I", body, 0)[0]
        levels = rle_hybrid_decode(body[4:4 + nlevels], n, 1)
        values_buf = body[4 + nlevels:]
        nonnull = levels.count(1)
        if encoding == 8:
            width = values_buf[0]
            # the writer sizes indices for the dictionary as it is when the page is cut
            size = len(set(v for v in expected[:row + n] if v is not None))
            check(dictionary is not None and width == (size - 1).bit_length(),
                  label + ": RLE_DICTIONARY page bit width %d for %d entries" % (width, size))
            indices = rle_hybrid_decode(values_buf[1:], nonnull, width)
            dictionary = dictionary or []
            check(all(i < len(dictionary) for i in indices), label + ": indices in the dictionary")
            got = [dictionary[i] if i < len(dictionary) else None for i in indices]
        else:
            got, used = plain_decode(values_buf, nonnull, ctype)
            check(used == len(values_buf), label + ": PLAIN values fill the page")
        it = iter(got)
        got = [next(it) if level else None for level in levels]
        check(all(same_value(w, v, ctype) for w, v in zip(want, got)),
              label + ": page at row %d decodes to the expected values" % row)
        check(dp[5][3] == n - nonnull, label + ": page null_count %d, levels say %d" %
              (dp[5][3], n - nonnull))
        row += n
        nulls += n - nonnull
    check(pos == end and row == md[5] == len(expected),
          label + ": pages fill the chunk, %d values" % row)
    check(fallback is None or fallback in starts,
          label + ": a page starts where the dictionary falls back (row %r)" % fallback)
    check(md[12][3] == nulls, label + ": chunk null_count equals page levels")
    return pages, uncompressed


def check_page_encoding(label, encoding, row, want, expected, entries, fallback, ctype, case):
    """A string page of a dictionary case is RLE_DICTIONARY when filled
    before the fallback with a non-empty dictionary; every other page is
    PLAIN (after the fallback, only nulls so far in the chunk, or no
    dictionary encoding for the column)."""
    end = row + len(want)
    if ctype != "STRING" or not case["dictionary"] or (fallback is not None and row >= fallback):
        ok = encoding == 0
    else:
        seen_value = any(v is not None for v in expected[:end])
        ok = (fallback is None or end <= fallback) and encoding == (8 if seen_value else 0)
    check(ok, label + ": page of rows %d..%d has encoding %d (fallback at %r)" %
          (row, end, encoding, fallback))


def check_duckdb(case, path, expected, con, raw_meta):
    columns = case["columns"]
    rel = "read_parquet('%s')" % path.replace("'", "''")
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM %s)" %
                             rel).fetchall())
    for col in columns:
        check(types.get(col["name"]) == DUCK_TYPES[col["type"]], "%s [duckdb]: type of %s is %s" %
              (path, col["name"], types.get(col["name"])))
    select = ", ".join('epoch_ms("%s")' % c["name"] if c["type"] == "TIMESTAMP_MILLIS" else
                       '"%s"' % c["name"] for c in columns)
    rows = con.execute("SELECT %s FROM %s" % (select, rel)).fetchall()
    compare_columns(path + " [duckdb]", columns, expected,
                    [[r[ci] for r in rows] for ci in range(len(columns))])
    for row in con.execute("SELECT DISTINCT compression FROM parquet_metadata('%s')" %
                           path).fetchall():
        check(row[0] == case["codec"], "%s [duckdb]: compression %s" % (path, row[0]))
    check_duckdb_encodings(case, path, expected, con, raw_meta)
    check_pushdown(path, rel, columns, expected, con)


def check_duckdb_encodings(case, path, expected, con, raw_meta):
    """parquet_metadata(): the encodings and encoding stats of each chunk."""
    columns = case["columns"]
    meta = con.execute("SELECT row_group_id, column_id, row_group_num_rows, encodings, "
                       "encoding_stats FROM parquet_metadata(?) ORDER BY 1, 2",
                       [path]).fetchall()
    starts, first = {}, 0
    for g, ci, nrows, encodings, enc_stats in meta:
        if g not in starts:
            starts[g] = first
            first += nrows
        ctype = columns[ci]["type"]
        values = [r[ci] for r in expected[starts[g]:starts[g] + nrows]]
        entries, _ = expected_dictionary(case, ctype, values)
        want = "PLAIN, RLE, RLE_DICTIONARY" if entries else "PLAIN, RLE"
        # as in the raw footer, which check_raw() compared with the pages
        kinds = [(e["page_type"], e["encoding"], e["count"]) for e in enc_stats]
        want_kinds = [({0: "DATA_PAGE", 2: "DICTIONARY_PAGE"}[e[1]],
                       {0: "PLAIN", 8: "RLE_DICTIONARY"}[e[2]], e[3])
                      for e in raw_meta[4][g][1][ci][3][13]]
        check(encodings == want and kinds == want_kinds,
              "%s [duckdb] rg %d col %s: encodings %r %r" % (path, g, columns[ci]["name"],
                                                               encodings, kinds))


def sort_key(value, ctype):
    """DuckDB's order: strings byte-wise, NaN above every other double."""
    if ctype == "STRING":
        return (0, utf8(value))
    if ctype == "DOUBLE" and math.isnan(value):
        return (1, 0)
    return (0, value)


def check_pushdown(path, rel, columns, expected, con):
    """Filters DuckDB may answer by skipping row groups on their statistics
    must still find every matching row."""
    for ci, col in enumerate(columns):
        ctype = col["type"]
        if ctype == "TIMESTAMP_MILLIS":
            continue
        present = [r[ci] for r in expected if r[ci] is not None]
        probes = [v for v in present if not (ctype == "DOUBLE" and math.isnan(v))]
        if not probes:
            continue
        keys = [sort_key(v, ctype) for v in present]
        lo = min(probes, key=lambda v: sort_key(v, ctype))
        hi = max(probes, key=lambda v: sort_key(v, ctype))
        for op, v in (("=", lo), ("=", hi), ("=", probes[len(probes) // 2]), (">=", hi),
                      ("<=", lo), (">", hi), ("<", lo)):
            k = sort_key(v, ctype)
            want = sum(1 for x in keys if {"=": x == k, ">=": x >= k, "<=": x <= k, ">": x > k,
                                           "<": x < k}[op])
            got = con.execute('SELECT count(*) FROM %s WHERE "%s" %s ?' % (rel, col["name"], op),
                              [v]).fetchone()[0]
            check(got == want, "%s [duckdb]: %s %s %r finds %d rows, expected %d" %
                  (path, col["name"], op, str(v)[:40], got, want))


def check_file(case, path, expected, con):
    meta = check_arrow(case, path, expected)
    data, raw = read_footer(path)
    check_raw(case, path, data, raw, expected)
    check_arrow_stats(case, path, meta, expected, raw)
    check_duckdb(case, path, expected, con, raw)


def check_hive(case, root, expected, con):
    columns = case["columns"]
    parts = case["partitions"]
    names = [c["name"] for c in columns] + parts
    glob = os.path.join(root, "**", "*.parquet")
    select = ", ".join('epoch_ms("%s")' % c["name"] if c["type"] == "TIMESTAMP_MILLIS" else
                       '"%s"' % c["name"] for c in columns)
    select += ", " + ", ".join('CAST("%s" AS VARCHAR)' % p for p in parts)
    rows = con.execute("SELECT %s FROM read_parquet('%s', hive_partitioning = true) ORDER BY 1" %
                       (select, glob)).fetchall()
    want = sorted(expected, key=lambda r: r[0])
    got_cols = [[r[i] for r in rows] for i in range(len(names))]
    hive_cols = columns + [{"name": p, "type": "STRING"} for p in parts]
    compare_columns(root + " [duckdb hive]", hive_cols, want, got_cols)
    counts = con.execute("SELECT CAST(day AS VARCHAR), region, count(*) FROM read_parquet('%s', "
                         "hive_partitioning = true) GROUP BY ALL ORDER BY ALL" % glob).fetchall()
    want_counts = {}
    for r in expected:
        want_counts[(r[-2], r[-1])] = want_counts.get((r[-2], r[-1]), 0) + 1
    check(dict(((d, g), n) for d, g, n in counts) == want_counts,
          root + " [duckdb hive]: rows per partition %r" % counts)
    n = con.execute("SELECT count(*) FROM read_parquet('%s', hive_partitioning = true) "
                    "WHERE region = 'a/b c'" % glob).fetchone()[0]
    check(n == want_counts.get(("2024-01-01", "a/b c"), 0) +
          want_counts.get(("2024-01-02", "a/b c"), 0) + want_counts.get(("2024-01-03", "a/b c"), 0),
          root + " [duckdb hive]: escaped partition value filters as 'a/b c' (%d rows)" % n)
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    table = table.sort_by(columns[0]["name"])
    got_cols = [arrow_values(table, c["name"], c["type"]) for c in columns]
    got_cols += [[str(v) for v in table.column(p).to_pylist()] for p in parts]
    compare_columns(root + " [pyarrow dataset]", hive_cols, want, got_cols)
    for dirpath, _, files in os.walk(root):
        for f in files:
            check_file(dict(case, min_row_groups=1), os.path.join(dirpath, f),
                       [r[:len(columns)] for r in expected
                        if os.path.join(dirpath, "") .endswith(
                            "day=%s/region=%s/" % (r[-2], hive_escape(r[-1])))], con)


def hive_escape(s):
    return "".join("%%%02X" % ord(ch) if ord(ch) < 0x20 or ch in "\"#%'*/:=?\\{[]^\x7f" else ch
                   for ch in s)


def main():
    out = sys.argv[1]
    con = duckdb.connect()
    with open(os.path.join(out, "manifest.jsonl")) as f:
        cases = [json.loads(line) for line in f]
    for case in cases:
        path = os.path.join(out, case["file"])
        expected = load_rows(os.path.join(out, case["expected"]))
        before = FAILED
        try:
            if case["hive"]:
                check_hive(case, path, expected, con)
            else:
                check_file(case, path, expected, con)
        except Exception:  # a reader or the decoder choked: the file is bad
            check(False, "%s: %s" % (path, traceback.format_exc()))
        print("%-20s %s (%d rows)" % (case["name"], "ok" if FAILED == before else "FAILED",
                                       len(expected)))
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.endswith(".tmp")]
    check(not leftovers, "temporary files left behind: %r" % leftovers)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
