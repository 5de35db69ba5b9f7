package ai.batchtopk.training;

import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.Json;
import ai.batchtopk.io.TextFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
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
        Map<String, Object> content = new LinkedHashMap<>();
        content.put("command", "train");
        content.put("id", id);
        content.put("args", args);
        if (extraction != null) {
            content.put("extraction", extraction);
        }
        AtomicFiles.writeString(dir.resolve(FILE), Json.writePretty(content) + "\n");
        return id;
    }

    /** The run id saved in {@code dir}'s run.json ("" if none). */
    static String id(Path dir) throws IOException {
        Object parsed = Json.parse(TextFiles.readString(dir.resolve(FILE)));
        return parsed instanceof Map<?, ?> map && map.get("id") instanceof String id ? id : "";
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
        Object parsed;
        try {
            parsed = Json.parse(TextFiles.readString(file));
        } catch (IllegalArgumentException e) {
            throw new CommandFailure(file + " is not valid JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> map) || !(map.get("args") instanceof List<?> list)) {
            throw new CommandFailure(file + " has no \"args\" list");
        }
        List<String> args = new ArrayList<>();
        for (Object o : list) {
            args.add(String.valueOf(o));
        }
        return args;
    }
}
