using System.Globalization;
using System.Text;

namespace Parley.Http;

/// <summary>Status lines and reason phrases, encoded once.</summary>
internal static class StatusLines
{
    private static readonly Dictionary<int, (byte[] Line, string Reason)> s_known = Build();

    public static ReadOnlySpan<byte> Get(int status) =>
        s_known.TryGetValue(status, out var known) ? known.Line : Encoding.ASCII.GetBytes($"HTTP/1.1 {status} Status\r\n");

    public static string Reason(int status) => s_known.TryGetValue(status, out var known) ? known.Reason : "Status";

    private static Dictionary<int, (byte[], string)> Build()
    {
        (int, string)[] all =
        [
            (100, "Continue"), (101, "Switching Protocols"), (200, "OK"), (204, "No Content"), (206, "Partial Content"),
            (301, "Moved Permanently"), (302, "Found"), (304, "Not Modified"), (307, "Temporary Redirect"), (308, "Permanent Redirect"),
            (400, "Bad Request"), (403, "Forbidden"), (404, "Not Found"), (405, "Method Not Allowed"), (408, "Request Timeout"), (412, "Precondition Failed"),
            (413, "Content Too Large"), (414, "URI Too Long"), (416, "Range Not Satisfiable"), (417, "Expectation Failed"),
            (426, "Upgrade Required"), (431, "Request Header Fields Too Large"), (500, "Internal Server Error"),
            (501, "Not Implemented"), (503, "Service Unavailable"), (505, "HTTP Version Not Supported"),
        ];
        var map = new Dictionary<int, (byte[], string)>();
        foreach ((int status, string reason) in all)
        {
            map[status] = (Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n")), reason);
        }

        return map;
    }
}
