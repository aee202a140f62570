module Receptor.Properties.Main

open Expecto

let all = testList "receptor" [ LanguageTests.tests ]

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv all
