package ai.batchtopk.training;

import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.MalformedFileException;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code run.json} in a run's {@code --out} directory: the {@code train} arguments that started the
 * run, so that {@code train --resume DIR} continues it with the same data, batch size, length,
 * schedule, sweep and seed without being told them again.
 */
final class RunFile {
    static final String FILE = "run.json";

    private RunFile() {}

    /** The file's contents, keys in this order; {@code extraction} is left out when null. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Content(String command, String id, List<String> args, Map<String, Object> extraction) {}

    /** The key under which checkpoints of the run carry its id. */
    static final String ID_KEY = "batchtopk.run.id";

    /** Writes run.json with a new random run id, and returns the id. */
    static String write(Path dir, List<String> args) throws IOException {
        return write(dir, args, null);
    }

    /**
     * Writes run.json with a new random run id and, when not null, {@code extraction}: what a --text run
     * extracts (model, layer, site, hook name); returns the id.
     */
    static String write(Path dir, List<String> args, Map<String, Object> extraction) throws IOException {
        String id = java.util.UUID.randomUUID().toString();
        AtomicFiles.writeString(dir.resolve(FILE), JsonCodec.writePretty(new Content("train", id, args, extraction)) + "\n");
        return id;
    }

    /** The run id saved in {@code dir}'s run.json ("" if none). */
    static String id(Path dir) throws IOException {
        String id = JsonCodec.readFile(dir.resolve(FILE), Content.class).id();
        return id != null ? id : "";
    }

    /**
     * Whether {@code dir} holds a checkpoint written by the run {@code id} (not, say, the --init
     * checkpoint a run started from in place).
     */
    static boolean hasCheckpointOf(Path dir, String id) throws IOException {
        Path state = dir.resolve(ai.batchtopk.Checkpoint.STATE_FILE);
        if (id.isEmpty() || !Files.isRegularFile(state)) {
            return false;
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            return id.equals(ai.batchtopk.io.Safetensors.open(state, arena).metadata().get(ID_KEY));
        }
    }

    /** The arguments saved in {@code dir}. @throws CommandFailure if there is no readable run.json */
    static List<String> read(Path dir) throws IOException {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new CommandFailure("--resume " + dir + ": no " + FILE + " there (not the --out directory of a train run"
                    + " started by this version; to go on from a checkpoint with new options use --init)");
        }
        Content content;
        try {
            content = JsonCodec.readFile(file, Content.class);
        } catch (MalformedFileException e) {
            throw new CommandFailure(e.getMessage(), e);
        }
        if (content.args() == null) {
            throw new CommandFailure(file + " has no \"args\" list");
        }
        return content.args();
    }
}
