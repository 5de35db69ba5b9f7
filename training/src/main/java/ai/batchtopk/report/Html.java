package ai.batchtopk.report;

import java.util.Locale;

/** Escaping and number formatting for the page. */
final class Html {
    private Html() {}

    /** Text safe inside an element or a quoted attribute. */
    static String escape(String s) {
        StringBuilder out = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> {
                    // Control characters (other than tab/newline) are not allowed in HTML text.
                    if (c < 0x20 && c != '\t' && c != '\n') {
                        out.append('\uFFFD');
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.toString();
    }

    /** A number for a table cell: integers as such, others with 4 significant digits. */
    static String number(Object value) {
        return switch (value) {
            case null -> "–";
            case Long l -> String.format(Locale.ROOT, "%,d", l);
            case Integer i -> String.format(Locale.ROOT, "%,d", i);
            case Double d when !Double.isFinite(d) -> String.valueOf(d);
            case Double d
            when d != 0 && (Math.abs(d) < 1e-3 || Math.abs(d) >= 1e7) -> String.format(Locale.ROOT, "%.3e", d);
            case Double d when Math.abs(d) >= 1000 -> String.format(Locale.ROOT, "%,.0f", d);
            case Double d ->
                String.format(Locale.ROOT, "%.4g", d)
                        .replaceAll("(\\.\\d*?)0+$", "$1")
                        .replaceAll("\\.$", "");
            default -> value.toString();
        };
    }
}
