namespace Receptor.Host.Service;

/// <summary>Checks on posted text made before anything parses it.</summary>
internal static class Limits
{
    /// <summary>The deepest bracket nesting of a text, counted without recursion (a parser would overflow its stack first).</summary>
    internal static int Nesting(string text)
    {
        int depth = 0, deepest = 0;
        foreach (var c in text)
        {
            if (c is '(' or '[' or '{')
                deepest = Math.Max(deepest, ++depth);
            else if (c is ')' or ']' or '}')
                depth = Math.Max(0, depth - 1);
        }
        return deepest;
    }

    /// <summary>A study's name as a file name: letters, digits, '-', '_' and '.', not starting with '.'; so that no name leads outside the study folder.</summary>
    internal static bool IsStudyName(string name) =>
        name.Length is > 0 and <= 100 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
