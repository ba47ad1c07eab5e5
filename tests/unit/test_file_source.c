/*
 * test_file_source.c - the file/stdin line source: codecs detected by magic
 * bytes, line ends, offsets, over-long lines, block boundaries, errors.
 *
 * Files are written to a fresh directory under /tmp; gzip with zlib's gzopen
 * and LZ4 with LZ4F_compressFrame, i.e. independently of the reader.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "source/file.h"

#define MiB ((size_t)1 << 20)

static char tmp_dir[64];

static const char *tmp_path(const char *name)
{
    static char path[256];
    if (!tmp_dir[0]) {
        strcpy(tmp_dir, "/tmp/eddy_test_file_XXXXXX");
        cr_assert_not_null(mkdtemp(tmp_dir));
    }
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmp_dir(void)
{
    if (tmp_dir[0])
        nftw(tmp_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(file_source, .fini = remove_tmp_dir);

static void write_plain(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void append_gz_member(const char *path, const void *data, size_t len, const char *mode)
{
    gzFile gz = gzopen(path, mode);
    cr_assert_not_null(gz);
    size_t done = 0;
    while (done < len) { /* gzwrite takes an unsigned length */
        unsigned part = (unsigned)(len - done > MiB ? MiB : len - done);
        cr_assert_eq(gzwrite(gz, (const char *)data + done, part), (int)part);
        done += part;
    }
    cr_assert_eq(gzclose(gz), Z_OK);
}

static void write_gz(const char *path, const void *data, size_t len)
{
    append_gz_member(path, data, len, "wb");
}

static void *lz4_frame(const void *data, size_t len, size_t *out_len)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    void *out = malloc(bound);
    cr_assert_not_null(out);
    size_t n = LZ4F_compressFrame(out, bound, data, len, &prefs);
    cr_assert(!LZ4F_isError(n), "%s", LZ4F_getErrorName(n));
    *out_len = n;
    return out;
}

static void write_lz4(const char *path, const void *data, size_t len)
{
    size_t n;
    void *frame = lz4_frame(data, len, &n);
    write_plain(path, frame, n);
    free(frame);
}

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*len + 1);
    cr_assert_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

struct expected_line {
    int64_t offset;
    const char *text;
    bool too_large;
};

static void expect_lines(const char *path, size_t max_line, const struct expected_line *want,
                         size_t n)
{
    struct eddy_file_source *src;
    cr_assert_eq(eddy__file_source_open(path, max_line, &src), EDDY_OK);
    for (size_t i = 0; i < n; i++) {
        const char *line;
        size_t len;
        int64_t offset;
        bool too_large;
        eddy_err_t err = eddy__file_source_next(src, &line, &len, &offset, &too_large);
        cr_assert_eq(err, EDDY_OK, "line %zu of %s: %s", i, path, eddy_err_name(err));
        cr_assert_eq(offset, want[i].offset, "line %zu: offset %lld", i, (long long)offset);
        cr_assert_eq(len, strlen(want[i].text), "line %zu: length %zu", i, len);
        cr_assert_eq(memcmp(line, want[i].text, len), 0, "line %zu: '%.*s'", i, (int)len, line);
        cr_assert_eq(too_large, want[i].too_large, "line %zu", i);
    }
    const char *line;
    size_t len;
    int64_t offset;
    bool too_large;
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_EEOF);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_EEOF);
    eddy__file_source_close(src);
}

static const char SAMPLE[] = "{\"a\":1}\n"
                             "second line\n"
                             "\n"
                             "fourth\n"
                             "\n"
                             "\n"
                             "seventh, last\n";

static const struct expected_line SAMPLE_LINES[] = {{0, "{\"a\":1}", false},
                                                    {1, "second line", false},
                                                    {3, "fourth", false},
                                                    {6, "seventh, last", false}};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

Test(file_source, plain_lines_keep_line_numbers_as_offsets_and_skip_empty_lines)
{
    write_plain(tmp_path("sample.txt"), SAMPLE, strlen(SAMPLE));
    expect_lines(tmp_path("sample.txt"), 0, SAMPLE_LINES, COUNT(SAMPLE_LINES));
}

Test(file_source, crlf_is_stripped_and_last_line_without_newline_is_returned)
{
    const char text[] = "x\r\ny y\r\n\r\n\rz\nlast\r";
    const struct expected_line want[] = {
        {0, "x", false}, {1, "y y", false}, {3, "\rz", false}, {4, "last", false}};
    write_plain(tmp_path("crlf.txt"), text, strlen(text));
    expect_lines(tmp_path("crlf.txt"), 0, want, COUNT(want));
}

Test(file_source, final_line_without_newline)
{
    const char text[] = "one\ntwo";
    const struct expected_line want[] = {{0, "one", false}, {1, "two", false}};
    write_plain(tmp_path("nonl.txt"), text, strlen(text));
    expect_lines(tmp_path("nonl.txt"), 0, want, COUNT(want));
}

Test(file_source, tiny_and_empty_files)
{
    const struct expected_line one[] = {{0, "a", false}};
    const struct expected_line two[] = {{0, "ab", false}};
    write_plain(tmp_path("empty.txt"), "", 0);
    expect_lines(tmp_path("empty.txt"), 0, NULL, 0);
    write_plain(tmp_path("newlines.txt"), "\n\r\n\n", 4);
    expect_lines(tmp_path("newlines.txt"), 0, NULL, 0);
    write_plain(tmp_path("a.txt"), "a", 1);
    expect_lines(tmp_path("a.txt"), 0, one, 1);
    write_plain(tmp_path("ab.txt"), "ab\n", 3);
    expect_lines(tmp_path("ab.txt"), 0, two, 1);
    /* starts like gzip's magic but is one byte long: plain text */
    write_plain(tmp_path("1f.txt"), "\x1f", 1);
    const struct expected_line magic_byte[] = {{0, "\x1f", false}};
    expect_lines(tmp_path("1f.txt"), 0, magic_byte, 1);
}

Test(file_source, gzip_is_detected_by_magic_bytes_not_name)
{
    write_gz(tmp_path("sample.txt"), SAMPLE, strlen(SAMPLE));
    expect_lines(tmp_path("sample.txt"), 0, SAMPLE_LINES, COUNT(SAMPLE_LINES));
    write_plain(tmp_path("plain.gz"), SAMPLE, strlen(SAMPLE));
    expect_lines(tmp_path("plain.gz"), 0, SAMPLE_LINES, COUNT(SAMPLE_LINES));
}

Test(file_source, concatenated_gzip_members_read_as_one_stream)
{
    const char *path = tmp_path("multi.gz");
    append_gz_member(path, "first\nsec", 9, "wb");
    append_gz_member(path, "ond\n\nthird", 10, "ab");
    append_gz_member(path, "", 0, "ab");
    append_gz_member(path, "\nfourth\n", 8, "ab");
    const struct expected_line want[] = {
        {0, "first", false}, {1, "second", false}, {3, "third", false}, {4, "fourth", false}};
    expect_lines(path, 0, want, COUNT(want));
}

Test(file_source, lz4_frame_is_detected_by_magic_bytes)
{
    write_lz4(tmp_path("sample.data"), SAMPLE, strlen(SAMPLE));
    expect_lines(tmp_path("sample.data"), 0, SAMPLE_LINES, COUNT(SAMPLE_LINES));
}

Test(file_source, concatenated_lz4_frames_read_as_one_stream)
{
    size_t n1, n2;
    unsigned char *f1 = lz4_frame("alpha\nbe", 8, &n1);
    unsigned char *f2 = lz4_frame("ta\r\ngamma", 9, &n2);
    unsigned char *both = malloc(n1 + n2);
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    write_plain(tmp_path("two.lz4"), both, n1 + n2);
    const struct expected_line want[] = {
        {0, "alpha", false}, {1, "beta", false}, {2, "gamma", false}};
    expect_lines(tmp_path("two.lz4"), 0, want, COUNT(want));
    free(f1);
    free(f2);
    free(both);
}

/* "head\n" + 5 MB line + "\nafter\n": the long line comes back cut to
 * max_line bytes and the following line is intact. */
static char *long_line_text(size_t long_len, size_t *len)
{
    char *text = malloc(long_len + 64);
    size_t pos = 0;
    memcpy(text, "head\n", 5);
    pos = 5;
    for (size_t i = 0; i < long_len; i++)
        text[pos++] = (char)('a' + i % 26);
    memcpy(text + pos, "\nafter\n", 7);
    *len = pos + 7;
    return text;
}

static void check_long_line(const char *path, size_t max_line)
{
    struct eddy_file_source *src;
    const char *line;
    size_t len;
    int64_t offset;
    bool too_large;
    cr_assert_eq(eddy__file_source_open(path, max_line, &src), EDDY_OK);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_OK);
    cr_assert(len == 4 && memcmp(line, "head", 4) == 0 && !too_large && offset == 0);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_OK);
    cr_assert(too_large);
    cr_assert_eq(offset, 1);
    cr_assert_eq(len, max_line);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(line[i], (char)('a' + i % 26), "byte %zu", i);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_OK);
    cr_assert(len == 5 && memcmp(line, "after", 5) == 0 && !too_large);
    cr_assert_eq(offset, 2);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_EEOF);
    eddy__file_source_close(src);
}

Test(file_source, line_longer_than_max_line_is_cut_and_flagged_and_next_line_is_intact)
{
    size_t len;
    char *text = long_line_text(5 * 1000 * 1000, &len);
    write_plain(tmp_path("long.txt"), text, len);
    check_long_line(tmp_path("long.txt"), MiB);
    write_gz(tmp_path("long.gz"), text, len);
    check_long_line(tmp_path("long.gz"), MiB);
    write_lz4(tmp_path("long.lz4"), text, len);
    check_long_line(tmp_path("long.lz4"), MiB);
    free(text);
}

Test(file_source, line_of_exactly_max_line_bytes_is_not_too_large)
{
    const char text[] = "12345678\r\n123456789\n1234567\n12345678\r";
    const struct expected_line want[] = {{0, "12345678", false},
                                         {1, "12345678", true},
                                         {2, "1234567", false},
                                         {3, "12345678", false}};
    write_plain(tmp_path("exact.txt"), text, strlen(text));
    expect_lines(tmp_path("exact.txt"), 8, want, COUNT(want));
}

/* Lines of pseudo-random lengths (0 to 300 KB) over several MiB, so lines and
 * "\r\n" pairs straddle the 1 MiB read blocks and decoder outputs. */
static size_t line_length(uint64_t i)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    switch (x % 4) {
    case 0: return 0;
    case 1: return (size_t)(x >> 8) % 300000;
    default: return (size_t)(x >> 8) % 5000;
    }
}

static char line_byte(uint64_t i, size_t j)
{
    return (char)('!' + (i * 7 + j) % 90);
}

static char *boundary_text(size_t *len, size_t *lines)
{
    size_t cap = 8 * MiB, pos = 0, i = 0;
    char *text = malloc(cap);
    while (pos < 5 * MiB) {
        size_t n = line_length(i);
        for (size_t j = 0; j < n; j++)
            text[pos++] = line_byte(i, j);
        if (i % 3 == 0)
            text[pos++] = '\r';
        text[pos++] = '\n';
        i++;
    }
    *len = pos;
    *lines = i;
    return text;
}

static void check_boundary_lines(const char *path, size_t lines)
{
    struct eddy_file_source *src;
    const char *line;
    size_t len;
    int64_t offset;
    bool too_large;
    cr_assert_eq(eddy__file_source_open(path, 512 * 1024, &src), EDDY_OK);
    size_t seen = 0;
    for (uint64_t i = 0; i < lines; i++) {
        size_t n = line_length(i);
        if (n == 0)
            continue;
        cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_OK);
        cr_assert_eq(offset, (int64_t)i);
        cr_assert_eq(len, n, "line %llu", (unsigned long long)i);
        cr_assert(!too_large);
        for (size_t j = 0; j < n; j++)
            if (line[j] != line_byte(i, j))
                cr_assert_fail("line %llu byte %zu differs", (unsigned long long)i, j);
        seen++;
    }
    cr_assert_gt(seen, 100);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_EEOF);
    eddy__file_source_close(src);
}

Test(file_source, lines_spanning_read_blocks_are_whole_in_every_codec)
{
    size_t len, lines;
    char *text = boundary_text(&len, &lines);
    write_plain(tmp_path("blocks.txt"), text, len);
    check_boundary_lines(tmp_path("blocks.txt"), lines);
    write_gz(tmp_path("blocks.gz"), text, len);
    check_boundary_lines(tmp_path("blocks.gz"), lines);
    write_lz4(tmp_path("blocks.lz4"), text, len);
    check_boundary_lines(tmp_path("blocks.lz4"), lines);
    free(text);
}

static eddy_err_t drain(const char *path, size_t *ok_lines)
{
    struct eddy_file_source *src;
    const char *line;
    size_t len;
    int64_t offset;
    bool too_large;
    eddy_err_t err;
    cr_assert_eq(eddy__file_source_open(path, 0, &src), EDDY_OK);
    *ok_lines = 0;
    while ((err = eddy__file_source_next(src, &line, &len, &offset, &too_large)) == EDDY_OK)
        (*ok_lines)++;
    /* the error sticks */
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), err);
    eddy__file_source_close(src);
    return err;
}

static char *numbered_lines(size_t count, size_t *len)
{
    char *text = malloc(count * 32);
    size_t pos = 0;
    for (size_t i = 0; i < count; i++)
        pos += (size_t)sprintf(text + pos, "line number %zu\n", i);
    *len = pos;
    return text;
}

Test(file_source, corrupt_gzip_is_an_io_error)
{
    size_t len, gz_len, lines;
    char *text = numbered_lines(100000, &len);
    write_gz(tmp_path("ok.gz"), text, len);
    unsigned char *gz = read_whole(tmp_path("ok.gz"), &gz_len);
    cr_assert_eq(drain(tmp_path("ok.gz"), &lines), EDDY_EEOF);
    cr_assert_eq(lines, 100000);

    for (size_t i = gz_len / 2; i < gz_len / 2 + 16; i++)
        gz[i] ^= 0x5a;
    write_plain(tmp_path("corrupt.gz"), gz, gz_len);
    cr_assert_eq(drain(tmp_path("corrupt.gz"), &lines), EDDY_EIO);
    cr_assert_lt(lines, 100000);

    for (size_t i = gz_len / 2; i < gz_len / 2 + 16; i++)
        gz[i] ^= 0x5a; /* undo the damage, then cut the file short */
    write_plain(tmp_path("truncated.gz"), gz, gz_len - 100);
    cr_assert_eq(drain(tmp_path("truncated.gz"), &lines), EDDY_EIO);
    cr_assert_gt(lines, 90000);
    free(gz);
    free(text);
}

Test(file_source, truncated_or_corrupt_lz4_is_an_io_error)
{
    size_t len, lz_len, lines;
    char *text = numbered_lines(50000, &len);
    unsigned char *lz = lz4_frame(text, len, &lz_len);
    write_plain(tmp_path("truncated.lz4"), lz, lz_len - 7);
    cr_assert_eq(drain(tmp_path("truncated.lz4"), &lines), EDDY_EIO);
    lz[lz_len / 2] ^= 0xff;
    write_plain(tmp_path("corrupt.lz4"), lz, lz_len);
    cr_assert_eq(drain(tmp_path("corrupt.lz4"), &lines), EDDY_EIO);
    free(lz);
    free(text);
}

Test(file_source, missing_file_is_not_found)
{
    struct eddy_file_source *src = (void *)1;
    cr_assert_eq(eddy__file_source_open(tmp_path("does-not-exist.jsonl"), 0, &src), EDDY_ENOTFOUND);
    cr_assert_null(src);
    cr_assert_eq(eddy__file_source_open(tmp_dir, 0, &src), EDDY_OK); /* a directory opens... */
    const char *line;
    size_t len;
    int64_t offset;
    bool too_large;
    /* ...but cannot be read */
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_EIO);
    eddy__file_source_close(src);
}

/* stdin as a pipe fed in small pieces by a child: short reads everywhere,
 * including in the 4 magic bytes. */
Test(file_source, stdin_pipe_with_gzip_in_small_writes)
{
    size_t len, gz_len;
    char *text = numbered_lines(3000, &len);
    write_gz(tmp_path("pipe.gz"), text, len);
    unsigned char *gz = read_whole(tmp_path("pipe.gz"), &gz_len);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        close(fds[0]);
        for (size_t pos = 0; pos < gz_len;) {
            size_t n = pos < 8 ? 1 : 997;
            if (n > gz_len - pos)
                n = gz_len - pos;
            if (write(fds[1], gz + pos, n) != (ssize_t)n)
                _exit(1);
            pos += n;
            if (pos < 8)
                usleep(1000);
        }
        _exit(0);
    }
    close(fds[1]);
    cr_assert_eq(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);

    struct eddy_file_source *src;
    const char *line;
    size_t n;
    int64_t offset;
    bool too_large;
    cr_assert_eq(eddy__file_source_open("-", 0, &src), EDDY_OK);
    cr_assert_str_eq(eddy__file_source_path(src), "-");
    for (size_t i = 0; i < 3000; i++) {
        char want[32];
        int w = sprintf(want, "line number %zu", i);
        cr_assert_eq(eddy__file_source_next(src, &line, &n, &offset, &too_large), EDDY_OK);
        cr_assert_eq(n, (size_t)w);
        cr_assert_eq(memcmp(line, want, n), 0);
        cr_assert_eq(offset, (int64_t)i);
    }
    cr_assert_eq(eddy__file_source_next(src, &line, &n, &offset, &too_large), EDDY_EEOF);
    eddy__file_source_close(src);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(gz);
    free(text);
}

Test(file_source, over_long_last_line_without_newline_ends_the_input)
{
    size_t long_len = 3 * MiB;
    char *text = malloc(long_len + 16);
    memcpy(text, "\n\nfirst\n", 8);
    memset(text + 8, 'x', long_len);
    write_plain(tmp_path("tail.txt"), text, 8 + long_len);
    struct eddy_file_source *src;
    const char *line;
    size_t len;
    int64_t offset;
    bool too_large;
    cr_assert_eq(eddy__file_source_open(tmp_path("tail.txt"), MiB, &src), EDDY_OK);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_OK);
    cr_assert(len == 5 && memcmp(line, "first", 5) == 0 && offset == 2 && !too_large);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_OK);
    cr_assert(len == MiB && line[0] == 'x' && line[MiB - 1] == 'x' && offset == 3 && too_large);
    cr_assert_eq(eddy__file_source_next(src, &line, &len, &offset, &too_large), EDDY_EEOF);
    eddy__file_source_close(src);
    free(text);
}
