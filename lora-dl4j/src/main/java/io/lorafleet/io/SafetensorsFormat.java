package io.lorafleet.io;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * The safetensors file layout (huggingface/safetensors): an 8-byte little-endian header length N, N bytes
 * of UTF-8 JSON mapping each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative
 * to the end of the header) plus an optional "__metadata__" string map, then the tensors' bytes,
 * contiguous, little-endian, C order.
 */
final class SafetensorsFormat {
    static final String METADATA_KEY = "__metadata__";
    /** Largest header we accept; the reference implementation refuses headers over 100 MB too. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    private SafetensorsFormat() { }

    /** Bytes per element of a safetensors dtype, or -1 when the dtype is not one of the format's. */
    static int elementSize(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> -1;
        };
    }

    /** The ND4J type a stored dtype is read into: half-precision floats widen to float32. */
    static DataType readType(String dtype) {
        return switch (dtype) {
            case "F32", "F16", "BF16" -> DataType.FLOAT;
            case "F64" -> DataType.DOUBLE;
            case "I64" -> DataType.LONG;
            case "I32" -> DataType.INT;
            case "I8" -> DataType.BYTE; // an int8 projection (ModelWeights.SCALE_SUFFIX)
            default -> null;
        };
    }

    static String dtypeOf(DataType type) {
        return switch (type) {
            case FLOAT -> "F32";
            case DOUBLE -> "F64";
            case LONG -> "I64";
            case INT -> "I32";
            case HALF -> "F16";
            case BFLOAT16 -> "BF16";
            case BYTE -> "I8";
            default -> throw new IllegalArgumentException("no safetensors dtype for ND4J type " + type);
        };
    }

    /** IEEE 754 binary16 → float32, exactly (subnormals, infinities and NaN included). */
    static float halfToFloat(short bits) {
        int h = bits & 0xFFFF;
        int sign = (h >>> 15) << 31;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        if (exponent != 0) return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
        float subnormal = mantissa * 0x1p-24f;
        return sign == 0 ? subnormal : -subnormal;
    }

    /** bfloat16 is the top half of a float32. */
    static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }
}
