namespace Receptor.Host;

/// <summary>Bad user input: a parse, shape or argument error, with the place it points at.</summary>
public sealed class ReceptorException : Exception
{
    internal ReceptorException(string message, string? file, int? line, int? column, string? layerPath, string? hint)
        : base(message)
    {
        File = file;
        Line = line;
        Column = column;
        LayerPath = layerPath;
        Hint = hint;
    }

    /// <summary>The file of a syntax error, if the error is in the text.</summary>
    public string? File { get; }

    /// <summary>1-based line of a syntax error.</summary>
    public int? Line { get; }

    /// <summary>1-based column of a syntax error.</summary>
    public int? Column { get; }

    /// <summary>The layer path of a shape or argument error, such as <c>stage2/block1/add</c>.</summary>
    public string? LayerPath { get; }

    /// <summary>A suggestion, such as the nearest known layer name.</summary>
    public string? Hint { get; }
}
