using System.Security.Cryptography;
using System.Text;

namespace Receptor.Host.Service;

/// <summary>The bearer token writing endpoints need: made at the first start, kept in the study folder readable by its owner only.</summary>
internal static class Token
{
    internal const string FileName = ".receptor-token";

    internal static string LoadOrCreate(string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        if (File.Exists(path))
        {
            var kept = File.ReadAllText(path).Trim();
            if (kept.Length >= 32)
                return kept;
            // Cut short (a process stopped while writing it): made again.
            File.Delete(path);
        }
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
            stream.Write(Encoding.ASCII.GetBytes(token));
        return token;
    }

    /// <summary>Whether an Authorization header carries the token, compared in constant time.</summary>
    internal static bool Allows(string token, string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var given = Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(token));
    }
}
