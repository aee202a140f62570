/// Batches moved to Data (Data/Batches.fs): fitting images to a network's input is not training, and
/// initialisation (Signal) uses it before any training. `receptor init` (Search/InitCommands.fs) still names
/// them here while the CLI moves to its own project; this forwarding goes once it names Data.Batches.
module Receptor.Core.Training.Batches

type Fitted = Receptor.Core.Data.Batches.Fitted

let fit input data = Receptor.Core.Data.Batches.fit input data
