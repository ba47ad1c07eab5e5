/*
 * DDSketch.java - the quantile sketch of eddy (src/agg/ddsketch.c) in Java, so
 * that both engines report the same p95/p99 for the same values.
 *
 * Same mapping: relative accuracy a = 0.01 * (1 - 1e-6), gamma = (1+a)/(1-a);
 * a value x >= 1e-9 goes to bin ceil(log(x) / log(gamma)) of the positive
 * store, x <= -1e-9 to bin index(-x) of the negative store, |x| < 1e-9 to the
 * zero counter; bin i stands for 2 * gamma^i / (gamma + 1). The constants are
 * eddy's literals. Same rank rule: quantile(q) is the value of the bin holding
 * the item of 0-based rank floor(q * (n - 1)), clamped into the exact [min, max];
 * q = 0 and q = 1 give min and max.
 *
 * Difference: eddy's stores collapse their lowest bins beyond 2048 bins (a
 * dynamic range of 6e17); this one refuses such a range (IllegalStateException)
 * instead of silently computing something else. Service latencies never come
 * near it.
 *
 * Encoding (this program's own state format, not eddy's): uvarint zero count,
 * positive store, negative store, then f64 min and f64 max (big endian) when
 * the count is > 0; store = uvarint nbins (0: empty), zigzag varint first
 * index, nbins uvarint counts.
 */
package eddy.bench.kstreams;

final class DDSketch {
    static final double LOG_GAMMA = 0.020000646704669327;
    static final double INV_LOG_GAMMA = 49.998383290603364;
    static final double VALUE_FACTOR = 0.99000001; /* 2 / (gamma + 1) */
    static final double MIN_INDEXABLE = 1e-9;
    static final int MAX_BINS = 2048;

    /* Dense counters for the bin indices [offset, offset + bins.length). */
    static final class Store {
        long[] bins;
        int offset;
        int lo, hi; /* lowest and highest non-zero index when total > 0 */
        long total;

        void add(int idx, long n) {
            if (bins == null || idx < offset || idx >= offset + bins.length)
                grow(idx);
            bins[idx - offset] += n;
            if (total == 0) {
                lo = hi = idx;
            } else {
                lo = Math.min(lo, idx);
                hi = Math.max(hi, idx);
            }
            total += n;
        }

        private void grow(int idx) {
            int newLo = total == 0 ? idx : Math.min(lo, idx);
            int newHi = total == 0 ? idx : Math.max(hi, idx);
            int width = newHi - newLo + 1;
            if (width > MAX_BINS)
                throw new IllegalStateException("ddsketch: range of more than " + MAX_BINS
                                                + " bins (eddy would collapse it)");
            int cap = 64;
            while (cap < width * 2 && cap < 2 * MAX_BINS)
                cap *= 2;
            long[] grown = new long[cap];
            int newOffset = newLo - (cap - width) / 2;
            if (total > 0)
                System.arraycopy(bins, lo - offset, grown, lo - newOffset, hi - lo + 1);
            bins = grown;
            offset = newOffset;
        }

        long at(int idx) {
            return bins[idx - offset];
        }

        void encode(Buf out) {
            if (total == 0) {
                out.uvarint(0);
                return;
            }
            out.uvarint(hi - lo + 1);
            out.svarint(lo);
            for (int i = lo; i <= hi; i++)
                out.uvarint(at(i));
        }

        /* Into an empty store: one allocation of the decoded range (plus
         * room to grow), the counts copied in order. */
        void decode(Buf in) {
            int n = (int) in.getUvarint();
            if (n == 0)
                return;
            if (n > MAX_BINS)
                throw new IllegalStateException("ddsketch: " + n + " bins in the state");
            int first = (int) in.getSvarint();
            int cap = 64;
            while (cap < n * 2)
                cap *= 2;
            bins = new long[cap];
            offset = first - (cap - n) / 2;
            for (int k = 0; k < n; k++) {
                long c = in.getUvarint();
                bins[first + k - offset] = c;
                total += c;
            }
            lo = first;
            hi = first + n - 1;
        }
    }

    final Store pos = new Store();
    final Store neg = new Store();
    long zero;
    long count;
    double min, max;

    static int index(double x) {
        return (int) Math.ceil(Math.log(x) * INV_LOG_GAMMA);
    }

    static double value(int i) {
        return Math.exp((double) i * LOG_GAMMA) * VALUE_FACTOR;
    }

    void add(double x) {
        if (!Double.isFinite(x))
            throw new IllegalArgumentException("ddsketch: not a finite value: " + x);
        if (x >= MIN_INDEXABLE)
            pos.add(index(x), 1);
        else if (x <= -MIN_INDEXABLE)
            neg.add(index(-x), 1);
        else
            zero++;
        if (count == 0 || x < min)
            min = x;
        if (count == 0 || x > max)
            max = x;
        count++;
    }

    private double rankValue(long rank) {
        long seen = 0;
        for (int i = neg.hi; neg.total > 0 && i >= neg.lo; i--) {
            seen += neg.at(i);
            if (seen > rank)
                return -value(i);
        }
        seen += zero;
        if (seen > rank)
            return 0.0;
        for (int i = pos.lo; pos.total > 0 && i <= pos.hi; i++) {
            seen += pos.at(i);
            if (seen > rank)
                return value(i);
        }
        return max;
    }

    /* NaN when empty or q is outside [0, 1]. */
    double quantile(double q) {
        if (count == 0 || !(q >= 0.0 && q <= 1.0))
            return Double.NaN;
        if (q == 0.0)
            return min;
        if (q == 1.0)
            return max;
        long rank = (long) Math.floor(q * (double) (count - 1));
        if (rank > count - 1)
            rank = count - 1;
        double v = rankValue(rank);
        return v < min ? min : v > max ? max : v;
    }

    /* Bins in use (for sizing encode buffers). */
    int bins() {
        return (pos.total > 0 ? pos.hi - pos.lo + 1 : 0) + (neg.total > 0 ? neg.hi - neg.lo + 1 : 0);
    }

    void encode(Buf out) {
        out.uvarint(zero);
        pos.encode(out);
        neg.encode(out);
        if (count > 0) {
            out.f64(min);
            out.f64(max);
        }
    }

    static DDSketch decode(Buf in) {
        DDSketch s = new DDSketch();
        s.zero = in.getUvarint();
        s.pos.decode(in);
        s.neg.decode(in);
        s.count = s.zero + s.pos.total + s.neg.total;
        if (s.count > 0) {
            s.min = in.getF64();
            s.max = in.getF64();
        }
        return s;
    }
}
