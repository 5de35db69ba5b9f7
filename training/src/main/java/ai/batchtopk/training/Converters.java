package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.Normalization;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Command-line text to the library's values, by the names the library gives them (e.g.
 * {@code per-token}, which is not an enum constant name), with the library's own error messages.
 */
final class Converters {
    private Converters() {}

    static final class ArchitectureConverter implements ITypeConverter<Architecture> {
        @Override
        public Architecture convert(String value) {
            try {
                return Architecture.fromCliName(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    static final class NormalizationConverter implements ITypeConverter<Normalization> {
        @Override
        public Normalization convert(String value) {
            try {
                return Normalization.fromCliName(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
