package ai.batchtopk.train;

import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.MalformedFileException;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code run.json} in a run's directory: the run's id and what started it, so that a resume continues it
 * with the same data, batch size, length, schedule, sweep and seed without being told them again: the
 * {@link RunSpec} itself ({@code "spec"}, for {@link TrainingRun#resume(Path)}), or what the caller keeps
 * instead (the command line: its {@code train} arguments, {@code "args"}).
 */
public final class RunFile {
    public static final String FILE = "run.json";

    private RunFile() {}

    /** The keys of run.json this library reads, with their types; {@code extraction}, {@code spec}: objects. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record Content(
            String command, String id, List<String> args, Map<String, Object> extraction, Map<String, Object> spec) {}

    /** The key under which checkpoints of the run carry its id. */
    public static final String ID_KEY = "batchtopk.run.id";

    /** Writes run.json with a new random run id and {@code provenance} after it; returns the id. */
    static String write(Path dir, Map<String, Object> provenance) throws IOException {
        String id = java.util.UUID.randomUUID().toString();
        Map<String, Object> content = new LinkedHashMap<>();
        content.put("command", "train");
        content.put("id", id);
        content.putAll(provenance);
        AtomicFiles.writeString(dir.resolve(FILE), JsonCodec.writePretty(content) + "\n");
        return id;
    }

    /**
     * The specification a library run saved in {@code dir}.
     *
     * @throws TrainingException if there is none (not a run directory, or a run started by the command line)
     */
    static RunSpec readSpec(Path dir) throws IOException {
        Map<String, Object> spec = read(dir).spec();
        if (spec == null) {
            throw new TrainingException(dir.resolve(FILE) + " holds no run specification: the run was started by the"
                    + " command line (go on with 'train --resume " + dir + "') or with data that cannot be found again"
                    + " from a file (resume it with TrainingRun.resume(spec, false))");
        }
        try {
            return RunSpecJson.fromJson(spec, dir);
        } catch (IllegalArgumentException | ClassCastException e) {
            throw new TrainingException(
                    dir.resolve(FILE) + ": the saved run specification cannot be read: " + e.getMessage(), e);
        }
    }

    /** The run id saved in {@code dir}'s run.json ("" if none). */
    static String id(Path dir) throws IOException {
        String id = read(dir).id();
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
            return id.equals(
                    ai.batchtopk.io.Safetensors.open(state, arena).metadata().get(ID_KEY));
        }
    }

    /**
     * The command-line arguments saved in {@code dir}; null when it holds a specification instead.
     *
     * @throws TrainingException if there is no readable run.json
     */
    public static List<String> readArgs(Path dir) throws IOException {
        Content content = read(dir);
        if (content.spec() != null && content.args() == null) {
            return null;
        }
        if (content.args() == null) {
            throw new TrainingException(dir.resolve(FILE) + " has no \"args\" list");
        }
        List<String> args = new ArrayList<>();
        for (String arg : content.args()) { // a null element as "null", which then fails to parse as an option
            args.add(String.valueOf(arg));
        }
        return args;
    }

    /** run.json, read once into its typed keys: a hostile file is refused here, naming the key and the file. */
    private static Content read(Path dir) throws IOException {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new TrainingException(
                    "TrainingRun.resume " + dir + ": no " + FILE + " there (not the RunSpec.out directory of a run"
                            + " started by this version; to go on from a checkpoint with new options start a run with"
                            + " SaeSpec.init)");
        }
        Content content;
        try {
            content = JsonCodec.readFile(file, Content.class);
        } catch (MalformedFileException e) {
            throw new TrainingException(e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new TrainingException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (content == null) { // the file is the JSON literal null
            throw new TrainingException(file + " has no \"args\" list");
        }
        return content;
    }
}
