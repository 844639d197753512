package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * Bit-for-bit comparison of arrays. ND4J's {@code INDArray.equals} allows 1e-5 (absolute or relative), so a test that
 * claims "identical" must not use it; JUnit's assertArrayEquals on float[]/double[] compares the bits.
 */
public final class ExactArrays {
    private ExactArrays() { }

    public static void assertBitIdentical(INDArray expected, INDArray actual, String what) {
        assertNotNull(actual, what);
        assertEquals(expected.dataType(), actual.dataType(), what + ": data type");
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        if (expected.isEmpty()) return;
        INDArray e = expected.dup('c'), a = actual.dup('c'); // a view's data() is its parent's whole buffer
        switch (expected.dataType()) {
            case DOUBLE -> assertArrayEquals(e.data().asDouble(), a.data().asDouble(), what);
            case FLOAT, HALF, BFLOAT16 -> assertArrayEquals(e.data().asFloat(), a.data().asFloat(), what); // widening is exact
            default -> assertArrayEquals(e.data().asLong(), a.data().asLong(), what);
        }
    }
}
