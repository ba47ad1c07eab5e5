/*
 * archive_prune.c - see archive_prune.h.
 *
 * Two recursions: walk_dir() looks for date= directories below the root and
 * decides; delete_contents() empties an expired partition. Both work on
 * directory descriptors (openat with O_NOFOLLOW, fstatat without following,
 * unlinkat), never on path strings: the path kept in struct walk is only for
 * log messages. A directory is removed as "newly empty" only when something
 * below it was deleted during this run, and only if rmdir succeeds (a writer
 * that just created a file there keeps it).
 */
#include "sink/archive_prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"

#define DAY_MS INT64_C(86400000)
#define PARTITION_PREFIX "date="

struct walk {
    int64_t cutoff_ms;
    bool dry_run;
    struct eddy_archive_prune_stats *st;
    eddy_err_t err; /* the first failure; the walk goes on */
    char *path;     /* of the entry being visited, for messages */
    size_t path_len, path_cap;
};

static void fail(struct walk *w, const char *what, int errnum)
{
    eddy_log(EDDY_LOG_ERROR, "archive", "cannot %s '%s': %s", what, w->path, strerror(errnum));
    if (!w->err)
        w->err = EDDY_EIO;
}

/* Appends "/@name" to the path; returns the length to restore with
 * path_pop(), or (size_t)-1 when out of memory (w->err is set). */
static size_t path_push(struct walk *w, const char *name)
{
    size_t mark = w->path_len, name_len = strlen(name);
    if (!eddy_array_reserve(&w->path, &w->path_cap, mark + name_len + 2, 1, 256)) {
        eddy_log(EDDY_LOG_ERROR, "archive", "out of memory under '%s'", w->path);
        if (!w->err)
            w->err = EDDY_ENOMEM;
        return (size_t)-1;
    }
    w->path[mark] = '/';
    memcpy(w->path + mark + 1, name, name_len + 1);
    w->path_len = mark + 1 + name_len;
    return mark;
}

static void path_pop(struct walk *w, size_t mark)
{
    w->path_len = mark;
    w->path[mark] = '\0';
}

static bool two_digits(const char *s, unsigned *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *out = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    return true;
}

/* "YYYY-MM-DD", a real day, into the epoch millisecond at its start (UTC). */
static bool parse_day(const char *value, int64_t *day_start_ms)
{
    static const unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned century, year_in_century, month, day;
    if (strlen(value) != 10 || value[4] != '-' || value[7] != '-' || !two_digits(value, &century) ||
        !two_digits(value + 2, &year_in_century) || !two_digits(value + 5, &month) ||
        !two_digits(value + 8, &day))
        return false;
    unsigned year = century * 100 + year_in_century;
    bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1] ||
        (month == 2 && day == 29 && !leap))
        return false;
    *day_start_ms = eddy_days_from_civil(year, month, day) * DAY_MS;
    return true;
}

/* Opens directory @name under @parent_fd without following a link. */
static DIR *open_dir_at(struct walk *w, int parent_fd, const char *name)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        fail(w, "open directory", errno);
        if (fd >= 0)
            close(fd);
    }
    return d;
}

/* The next entry of @d other than "." and ".."; NULL at the end or after a
 * logged error. */
static struct dirent *next_entry(struct walk *w, DIR *d)
{
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                fail(w, "read directory", errno);
            return NULL;
        }
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            return e;
    }
}

/* Removes directory @name under @parent_fd; false (logged) when it cannot. */
static bool remove_dir_at(struct walk *w, int parent_fd, const char *name)
{
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0)
        return true;
    fail(w, "remove directory", errno);
    return false;
}

/* Deletes (dry run: counts) everything in directory @d; w->path names it.
 * Sizes come from fstatat before unlinking, so a file being appended to
 * counts with the size it had then. */
static void delete_contents(struct walk *w, DIR *d)
{
    struct dirent *e;
    while ((e = next_entry(w, d))) {
        size_t mark = path_push(w, e->d_name);
        if (mark == (size_t)-1)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) /* gone already: nothing to delete */
                fail(w, "stat", errno);
        } else if (S_ISDIR(sb.st_mode)) {
            DIR *child = open_dir_at(w, dirfd(d), e->d_name);
            if (child) {
                delete_contents(w, child);
                closedir(child);
                if (!w->dry_run)
                    remove_dir_at(w, dirfd(d), e->d_name);
            }
        } else if (w->dry_run || unlinkat(dirfd(d), e->d_name, 0) == 0) {
            w->st->files++;
            w->st->bytes += S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
        } else if (errno != ENOENT) {
            fail(w, "delete", errno);
        }
        path_pop(w, mark);
    }
}

/* Directory @name (a date= partition) under @parent_fd: deleted when its day
 * is over by the cutoff. True when it was removed. */
static bool visit_partition(struct walk *w, int parent_fd, const char *name)
{
    int64_t day_start_ms;
    if (!parse_day(name + strlen(PARTITION_PREFIX), &day_start_ms)) {
        eddy_log(EDDY_LOG_WARN, "archive", "ignoring '%s': not a date partition (YYYY-MM-DD)",
                 w->path);
        w->st->skipped++;
        return false;
    }
    if (day_start_ms + DAY_MS > w->cutoff_ms) /* some of the day is still kept */
        return false;
    DIR *d = open_dir_at(w, parent_fd, name);
    if (!d)
        return false;
    uint64_t files = w->st->files, bytes = w->st->bytes;
    delete_contents(w, d);
    closedir(d);
    if (!w->dry_run && !remove_dir_at(w, parent_fd, name))
        return false;
    w->st->partitions++;
    eddy_log(EDDY_LOG_INFO, "archive", "%s partition '%s' (%llu files, %llu bytes)",
             w->dry_run ? "would delete" : "deleted", w->path,
             (unsigned long long)(w->st->files - files),
             (unsigned long long)(w->st->bytes - bytes));
    return !w->dry_run;
}

static bool walk_dir(struct walk *w, DIR *d);

/* Directory @name under @parent_fd outside any partition: walked, then
 * removed if that emptied it. True when it was removed. */
static bool visit_dir(struct walk *w, int parent_fd, const char *name)
{
    DIR *d = open_dir_at(w, parent_fd, name);
    if (!d)
        return false;
    bool emptied_some = walk_dir(w, d);
    closedir(d);
    if (!emptied_some || w->dry_run)
        return false;
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0)
        return true;
    if (errno != ENOTEMPTY && errno != EEXIST) /* other partitions remain: keep */
        fail(w, "remove directory", errno);
    return false;
}

/* Visits the subdirectories of @d; true when one of them was removed. */
static bool walk_dir(struct walk *w, DIR *d)
{
    bool removed_some = false;
    struct dirent *e;
    while ((e = next_entry(w, d))) {
        if (e->d_name[0] == '.') /* not part of the table; e.g. .snapshot */
            continue;
        size_t mark = path_push(w, e->d_name);
        if (mark == (size_t)-1)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                fail(w, "stat", errno);
        } else if (S_ISDIR(sb.st_mode)) {
            bool partition = strncmp(e->d_name, PARTITION_PREFIX, strlen(PARTITION_PREFIX)) == 0;
            if (partition ? visit_partition(w, dirfd(d), e->d_name)
                          : visit_dir(w, dirfd(d), e->d_name))
                removed_some = true;
        }
        path_pop(w, mark);
    }
    return removed_some;
}

eddy_err_t eddy__archive_prune(const char *dir, int64_t cutoff_ms, bool dry_run,
                               struct eddy_archive_prune_stats *st)
{
    struct walk w = {.cutoff_ms = cutoff_ms, .dry_run = dry_run, .st = st};
    memset(st, 0, sizeof *st);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') /* "lake/" names entries "lake/x" */
        len--;
    if (!(w.path = eddy_strndup(dir, len)))
        return EDDY_ENOMEM;
    w.path_len = len;
    w.path_cap = len + 1;
    /* the root is named by the caller: it may be a link; nothing below is followed */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        fail(&w, "open archive directory", errno);
        if (fd >= 0)
            close(fd);
    } else {
        walk_dir(&w, d);
        closedir(d);
    }
    eddy_free(w.path);
    return w.err;
}

bool eddy__archive_retention_parse(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *name;
        int64_t ms;
    } long_units[] = {{"w", 7 * DAY_MS}, {"mo", 30 * DAY_MS}, {"y", 365 * DAY_MS}};
    int64_t total = 0;
    if (!s || !*s)
        return false;
    while (*s) {
        /* one "<n><unit>" term: the units of eddy_duration_parse, or a long one */
        const char *term = s, *unit;
        int64_t n = 0, term_ms = -1;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (n > (INT64_MAX - 9) / 10)
                return false;
            n = n * 10 + (*s - '0');
        }
        for (unit = s; *s >= 'a' && *s <= 'z'; s++)
            ;
        if (unit == term)
            return false;
        for (size_t i = 0; i < sizeof long_units / sizeof long_units[0]; i++)
            if (strlen(long_units[i].name) == (size_t)(s - unit) &&
                memcmp(long_units[i].name, unit, (size_t)(s - unit)) == 0) {
                if (n > INT64_MAX / long_units[i].ms)
                    return false;
                term_ms = n * long_units[i].ms;
            }
        char text[32];
        if (term_ms < 0) {
            if ((size_t)(s - term) >= sizeof text)
                return false;
            memcpy(text, term, (size_t)(s - term));
            text[s - term] = '\0';
            if (!eddy_duration_parse(text, &term_ms))
                return false;
        }
        if (term_ms > INT64_MAX - total)
            return false;
        total += term_ms;
    }
    *out_ms = total;
    return true;
}
