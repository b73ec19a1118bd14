// Package bluetest is a fake BlueZ for tests of the Bluetooth links
// (radio/ble) and of nodes that use them: StartBus runs a private
// dbus-daemon (Debian's dbus-daemon package; no system bus is needed), and
// Start exports org.bluez on it with adapters, their
// LEAdvertisingManager1 and the devices they hear, as BlueZ 5.66 does.
// Adapters share one air: an advertisement registered on one is heard by
// every other adapter that is discovering and has the PHY it is sent on
// (an advertisement on the "Coded" secondary channel only by adapters that
// list it). The fake checks what BlueZ checks of a registration: the
// secondary channel is supported and the data fits (251 bytes extended,
// 31 legacy, less if MaxAdvLen says so). Hear plays a nearby transmitter,
// such as a forger. It is the one fake of the Bluetooth hardware; the
// code under test is the production D-Bus client.
package bluetest
