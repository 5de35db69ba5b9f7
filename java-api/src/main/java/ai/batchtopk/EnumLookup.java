package ai.batchtopk;

import java.util.Arrays;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import java.util.stream.Collectors;

/** The reverse lookups every enum mirroring a native code (and maybe a command-line name) needs. */
final class EnumLookup {
    private EnumLookup() {}

    /** The constant whose native code is {@code code}; {@code what} names the kind in the error. */
    static <E extends Enum<E>> E byCode(Class<E> type, ToIntFunction<E> codeOf, int code, String what) {
        for (E value : type.getEnumConstants()) {
            if (codeOf.applyAsInt(value) == code) {
                return value;
            }
        }
        throw new IllegalArgumentException("unknown " + what + " code " + code);
    }

    /** The constant whose command-line name is {@code name}, ignoring case. */
    static <E extends Enum<E>> E byName(Class<E> type, Function<E, String> nameOf, String name, String what) {
        for (E value : type.getEnumConstants()) {
            if (nameOf.apply(value).equalsIgnoreCase(name)) {
                return value;
            }
        }
        throw new IllegalArgumentException("unknown " + what + " '" + name + "'; expected one of "
                + Arrays.stream(type.getEnumConstants()).map(nameOf).collect(Collectors.joining(", ")));
    }
}
