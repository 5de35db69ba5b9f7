package ai.batchtopk.io;

import java.io.IOException;

/**
 * A consumer that may throw {@link IOException}.
 *
 * @param <T> the type of the consumed value
 */
@FunctionalInterface
public interface IOConsumer<T> {
    void accept(T value) throws IOException;
}
