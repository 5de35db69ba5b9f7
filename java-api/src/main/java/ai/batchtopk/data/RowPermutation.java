package ai.batchtopk.data;

import java.util.SplittableRandom;

/**
 * A seeded pseudo-random permutation of {@code 0 .. n-1}, computed one index at a time.
 *
 * <p>Why not shuffle an index array: activation sets run to billions of rows, and an array of their
 * indices would take gigabytes of memory and a full pass before the first batch. This permutation
 * needs no memory and no set-up, and any position of it can be computed directly, so a resumed run
 * jumps straight to where it stopped.
 *
 * <p>How: a balanced Feistel network permutes {@code [0, 2^bits)}, with {@code 2^bits} the smallest
 * even power of two &ge; n (at most 4n); "cycle walking" applies it again while the result is &ge; n,
 * which permutes {@code [0, n)} and takes fewer than 4 rounds of the network on average. The round keys
 * come from a {@link SplittableRandom} seeded with the seed given; the round function is SplitMix64's
 * finaliser, so the six rounds mix well even for small domains.
 */
public final class RowPermutation {
    private static final int ROUNDS = 6;

    private final long n;
    private final int halfBits;
    private final long halfMask;
    private final long[] keys = new long[ROUNDS];

    public RowPermutation(long n, long seed) {
        if (n <= 0) {
            throw new IllegalArgumentException("a permutation needs n > 0, got " + n);
        }
        this.n = n;
        int bits = n == 1 ? 2 : 64 - Long.numberOfLeadingZeros(n - 1);
        bits += bits & 1;
        this.halfBits = Math.max(1, bits / 2);
        this.halfMask = (1L << halfBits) - 1;
        SplittableRandom random = new SplittableRandom(seed);
        for (int r = 0; r < ROUNDS; r++) {
            keys[r] = random.nextLong();
        }
    }

    public long size() {
        return n;
    }

    /** The index at position {@code i} of the permutation (0 &lt;= i &lt; n). */
    public long apply(long i) {
        if (i < 0 || i >= n) {
            throw new IndexOutOfBoundsException("position " + i + " outside 0.." + (n - 1));
        }
        long x = i;
        do {
            x = feistel(x);
        } while (x >= n);
        return x;
    }

    private long feistel(long x) {
        long left = x >>> halfBits;
        long right = x & halfMask;
        for (long key : keys) {
            long mixed = left ^ (mix(right ^ key) & halfMask);
            left = right;
            right = mixed;
        }
        return (left << halfBits) | right;
    }

    /** SplitMix64's output function: every input bit affects every output bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
