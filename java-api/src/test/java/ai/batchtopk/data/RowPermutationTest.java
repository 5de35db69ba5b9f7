package ai.batchtopk.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.BitSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RowPermutationTest {

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 17, 64, 1000, 4097, 65_537})
    void visitsEveryRowExactlyOnce(long n) {
        RowPermutation p = new RowPermutation(n, 42);
        BitSet seen = new BitSet((int) n);
        for (long i = 0; i < n; i++) {
            long row = p.apply(i);
            assertThat(row).isBetween(0L, n - 1);
            assertThat(seen.get((int) row)).as("row %d seen twice", row).isFalse();
            seen.set((int) row);
        }
        assertThat(seen.cardinality()).isEqualTo((int) n);
    }

    @Test
    void followsFromTheSeedAlone() {
        RowPermutation a = new RowPermutation(1000, 7);
        RowPermutation b = new RowPermutation(1000, 7);
        RowPermutation c = new RowPermutation(1000, 8);
        int differ = 0;
        for (long i = 0; i < 1000; i++) {
            assertThat(a.apply(i)).isEqualTo(b.apply(i));
            if (a.apply(i) != c.apply(i)) {
                differ++;
            }
        }
        assertThat(differ).isGreaterThan(900);
    }

    @Test
    void looksShuffled() {
        // Few rows stay in place or keep their neighbour: about 1 in n would by chance.
        int n = 10_000;
        RowPermutation p = new RowPermutation(n, 1);
        int fixed = 0;
        int adjacent = 0;
        for (long i = 0; i < n; i++) {
            if (p.apply(i) == i) fixed++;
            if (i + 1 < n && Math.abs(p.apply(i + 1) - p.apply(i)) == 1) adjacent++;
        }
        assertThat(fixed).isLessThan(10);
        assertThat(adjacent).isLessThan(10);
    }

    @Test
    void rejectsPositionsOutsideIt() {
        RowPermutation p = new RowPermutation(10, 0);
        assertThatThrownBy(() -> p.apply(10)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> new RowPermutation(0, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
