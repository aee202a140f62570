using Microsoft.FSharp.Core;
using Receptor.Dsl;

namespace Receptor.Host;

/// <summary>F# results at the C# boundary: the value, or a <see cref="ReceptorException"/>.</summary>
internal static class Failures
{
    /// <summary>The value of a result whose error is a diagnostic, which keeps its place and hint.</summary>
    internal static T Unwrap<T>(FSharpResult<T, Diagnostic> result)
    {
        if (result.IsOk)
            return result.ResultValue;
        var diagnostic = result.ErrorValue;
        var hint = OptionModule.IsSome(diagnostic.Hint) ? diagnostic.Hint.Value : null;
        var message = DiagnosticModule.format(diagnostic);
        return diagnostic.Place switch
        {
            Place.Text text => throw new ReceptorException(message, text.file, text.line, text.column, null, hint),
            Place.LayerPath path => throw new ReceptorException(message, null, null, null, path.Item, hint),
            _ => throw new ReceptorException(message, null, null, null, null, hint),
        };
    }

    /// <summary>The value of a result whose error is a message.</summary>
    internal static T Unwrap<T>(FSharpResult<T, string> result) =>
        result.IsOk ? result.ResultValue : throw new ReceptorException(result.ErrorValue, null, null, null, null, null);
}
